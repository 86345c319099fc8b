"""Liveness, readiness, the published schemas and the problem-type documentation."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gateway.api.deps import GatewayDep
from gateway.api.problems import problem_catalogue
from gateway.api.schemas import SchemaResponse
from gateway.errors import NotFound, ServiceUnavailable
from gateway.store.engine import ping

router = APIRouter()
_SCHEMA_NAME = re.compile(r"^[a-z0-9-]+\.schema\.json$")


@router.get("/healthz", tags=["operations"], summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["operations"],
    summary="The database is reachable",
    responses={503: {"description": "The database cannot be reached", "content": {"application/problem+json": {}}}},
)
async def readyz(gw: GatewayDep) -> dict[str, str]:
    if not await run_in_threadpool(ping, gw.engine):
        raise ServiceUnavailable("The database cannot be reached.")
    return {"status": "ready"}


@router.get(
    "/schemas/{name}",
    tags=["exchange format"],
    summary="A published JSON Schema (its $id resolves here)",
    responses={404: {"description": "No such schema", "content": {"application/problem+json": {}}}},
    response_class=SchemaResponse,
)
async def get_schema(name: str, gw: GatewayDep) -> JSONResponse:
    # The name is matched against a strict pattern before it touches the file system.
    path = gw.settings.schemas_dir / name
    if not _SCHEMA_NAME.match(name) or not path.is_file():
        raise NotFound("No published schema has this name.")
    doc: Any = json.loads(path.read_text(encoding="utf-8"))
    return SchemaResponse(doc, headers={"Cache-Control": "public, max-age=3600"})


@router.get(
    "/problems/{code}",
    tags=["operations"],
    summary="What a problem type means",
    responses={404: {"description": "No such problem type", "content": {"application/problem+json": {}}}},
)
async def get_problem_type(code: str) -> dict[str, Any]:
    entry = problem_catalogue().get(code)
    if entry is None:
        raise NotFound("No problem type has this code.")
    return {"code": code, **entry}
