"""Collaborating units push information records (JSON array or NDJSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from gateway.api.deps import GatewayDep, UnitDep
from gateway.api.json_body import PARSED_JSON
from gateway.api.schemas import PROBLEMS, BatchResultOut
from gateway.errors import MalformedBody, PayloadTooLarge
from gateway.services.scores.ingestion import ingest_batch, parse_batch

router = APIRouter(prefix="/v1/ingest", tags=["ingestion"])


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise MalformedBody("The Content-Length header is not a number.") from None
        if too_big:
            raise PayloadTooLarge(f"A request body holds at most {limit} bytes.", max_bytes=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"A request body holds at most {limit} bytes.", max_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/records",
    summary="Push a batch of information records",
    description=(
        "Body: a JSON array of records (`application/json`) or one record per line "
        "(`application/x-ndjson`), each as in `schemas/ingest-record.schema.json`. Valid records are "
        "kept even when others fail; a record re-sent under the same source reference changes nothing. "
        "A batch over the size limit is refused whole (413)."
    ),
    response_model=BatchResultOut,
    responses=PROBLEMS(400, 401, 403, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def push_records(request: Request, gw: GatewayDep, unit: UnitDep) -> Any:
    body = await _read_limited(request, gw.settings.max_body_bytes)
    records = parse_batch(
        body,
        request.headers.get("content-type"),
        max_records=gw.settings.max_batch_records,
        max_depth=gw.settings.json_max_depth,
        **({"parsed": request.scope[PARSED_JSON]} if PARSED_JSON in request.scope else {}),
    )
    result = await run_in_threadpool(ingest_batch, gw, unit, records)
    return result.as_dict()
