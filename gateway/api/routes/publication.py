"""Public documents (no credential): the signed, versioned documents, the incentive catalogue, and
a resident's "what could I get"."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from gateway.api.deps import GatewayDep, ResidentDep
from gateway.api.schemas import PROBLEMS
from gateway.errors import ValidationFailed
from gateway.services.publication import documents, incentives

router = APIRouter(tags=["published documents"])

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9./-]{0,126}$")
_CURRENT_MAX_AGE = 300  # a change is visible within five minutes; a pinned version never changes
_PINNED = "public, max-age=31536000, immutable"

IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", description="An ETag last read: 304 when unchanged.")]
DocName = Annotated[
    str,
    Path(
        description="A name from `/v1/published` (e.g. `programmes`, `crosswalks/sx-integrity-yrd-common`), "
        "optionally ending in `.jws` for its detached signature or `/versions` for its version list."
    ),
]
Digest = Annotated[
    str | None, Query(description="Pin a version: `sha256:<hex>` as listed in the issuer metadata or the index.")
]


def _not_modified(if_none_match: str | None, etag: str) -> bool:
    tags = [t.strip() for t in (if_none_match or "").split(",")]
    return etag in tags or "*" in tags


@router.get(
    "/v1/published",
    summary="Every published document, with its URL, signature URL, schema, version and digest",
)
async def index(gw: GatewayDep) -> JSONResponse:
    items = await run_in_threadpool(documents.document_index, gw)
    return JSONResponse({"documents": items}, headers={"Cache-Control": f"public, max-age={_CURRENT_MAX_AGE}"})


@router.get(
    "/v1/published/{name:path}",
    summary="A published document (JSON), its detached JWS (`.jws`) or its versions (`/versions`)",
    description=(
        "The JSON is served as exact bytes whose SHA-256 is its digest and ETag (`If-None-Match` → 304). "
        "`NAME.jws` is a compact JWS with a detached payload (RFC 7515 Appendix F), header "
        "`typ: published-document+jws`, over those bytes; verify it with `/.well-known/jwks.json`. "
        "`?digest=sha256:…` returns that exact version, for ever."
    ),
    responses={**PROBLEMS(404, 422), 304: {"description": "Not modified"}},
)
async def published(gw: GatewayDep, name: DocName, digest: Digest = None, if_none_match: IfNoneMatch = None) -> Any:
    if not _NAME.match(name):
        raise documents.DocumentNotPublished("No published document has this name.")
    if digest is not None and not _DIGEST.match(digest):
        raise ValidationFailed("digest is sha256: followed by 64 lower-case hex digits.")
    if name.endswith("/versions"):
        return await run_in_threadpool(lambda: {"versions": documents.versions(gw, name.removesuffix("/versions"))})
    signature = name.endswith(".jws")
    base = name.removesuffix(".jws")

    def load() -> documents.PublishedDocument:
        return documents.by_digest(gw, base, digest) if digest else documents.current(gw, base)

    doc = await run_in_threadpool(load)
    cache = _PINNED if digest else f"public, max-age={_CURRENT_MAX_AGE}"
    if signature:
        token = await run_in_threadpool(documents.sign_detached, gw, doc)
        headers = {"Cache-Control": cache, "X-Document-Digest": doc.digest}
        return Response(token, media_type="application/jose", headers=headers)
    headers = {"ETag": doc.etag, "Cache-Control": cache}
    if _not_modified(if_none_match, doc.etag):
        return Response(status_code=304, headers=headers)
    return Response(doc.body, media_type="application/json", headers=headers)


@router.get(
    "/v1/programmes",
    summary="The incentive catalogue: every programme in force, with provider, purpose, benefits and thresholds",
    description="In Chinese and English. The same content, signed and versioned, is `/v1/published/programmes`.",
)
async def programmes(gw: GatewayDep, if_none_match: IfNoneMatch = None) -> Response:
    body = json.dumps(
        await run_in_threadpool(incentives.programme_catalogue, gw), ensure_ascii=False, separators=(",", ":")
    )
    etag = f'"sha256:{hashlib.sha256(body.encode("utf-8")).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={_CURRENT_MAX_AGE}"}
    if _not_modified(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/v1/me/programmes",
    tags=["residents"],
    summary="The programmes my current tier qualifies for",
    responses=PROBLEMS(401, 404),
)
async def my_programmes(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(incentives.my_programmes, gw, resident.id_hash)
