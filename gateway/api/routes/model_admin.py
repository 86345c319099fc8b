"""Administrators (role ``model_admin``; auditors read): the scoring model and the information
catalogue, governed like crosswalks — draft, validate, preview, publish with a reason and an
effective date, roll back; ETag/If-Match (412, 428) and audit on every change."""

# No `from __future__ import annotations`: FastAPI must see the annotations of the routes defined
# in `_routes` as objects.

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import AdminDep, GatewayDep, require_role
from gateway.api.schemas import PROBLEMS, Problem
from gateway.errors import PermissionDenied
from gateway.services.admin.admins import AdminPrincipal
from gateway.services.publication import model_admin as ma

router = APIRouter(prefix="/v1/admin", tags=["model and catalogue administration"])


async def _reader(principal: AdminDep) -> AdminPrincipal:
    if not principal.roles & {"model_admin", "auditor"}:
        raise PermissionDenied("This needs the role model_admin or auditor.", required_roles=["model_admin", "auditor"])
    return principal


Reader = Annotated[AdminPrincipal, Depends(_reader)]
Admin = Annotated[AdminPrincipal, Depends(require_role("model_admin"))]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag last read; required on every change (428 without).")
]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
_CHANGE: dict[int | str, dict[str, Any]] = {
    **PROBLEMS(401, 403, 404, 409, 412, 422),
    428: {"description": "Precondition required", "model": Problem, "content": {"application/problem+json": {}}},
}


class GovernedDocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any]


class GovernedDraftIn(GovernedDocumentIn):
    reason: str = Field(min_length=1, max_length=1000, description="Why: kept in the audit log.")


class GovernedReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class GovernedPublishIn(GovernedReasonIn):
    version: int = Field(ge=1)
    effective_from: date | None = Field(None, description="Recorded with the version; not after today.")


class ModelPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1)
    document: dict[str, Any] | None = None


def _tagged(response: Response, view: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = view["etag"]
    return view


def _routes(doc: str) -> None:
    """The routes of one governed document (explicit paths, so no other /v1/admin route is shadowed)."""

    @router.get(
        f"/{doc}", summary="The document in force and every version's history (ETag)", responses=PROBLEMS(401, 403)
    )
    async def show(response: Response, gw: GatewayDep, _: Reader) -> Any:
        return _tagged(response, await run_in_threadpool(ma.show, gw, doc))

    @router.get(
        f"/{doc}/versions/{{version}}", summary="One version, with its document", responses=PROBLEMS(401, 403, 404)
    )
    async def show_version(version: Version, gw: GatewayDep, _: Reader) -> Any:
        return await run_in_threadpool(ma.show_version, gw, doc, version)

    @router.post(
        f"/{doc}/validate",
        summary="Check a document (schema and semantic checks) without storing it",
        responses=PROBLEMS(401, 403, 422),
    )
    async def validate(body: GovernedDocumentIn, gw: GatewayDep, _: Admin) -> Any:
        return await run_in_threadpool(ma.validate, gw, doc, body.document)

    @router.post(f"/{doc}/drafts", status_code=201, summary="Store the next version, a draft", responses=_CHANGE)
    async def draft(
        body: GovernedDraftIn, response: Response, gw: GatewayDep, admin: Admin, if_match: IfMatch = None
    ) -> Any:
        view = await run_in_threadpool(
            lambda: ma.create_draft(gw, doc, admin.name, body.document, reason=body.reason, if_match=if_match)
        )
        return _tagged(response, view)

    @router.post(
        f"/{doc}/publish",
        summary="Put a draft in force (a model: everyone is rescored and outdated assertions superseded)",
        responses=_CHANGE,
    )
    async def publish(
        body: GovernedPublishIn, response: Response, gw: GatewayDep, admin: Admin, if_match: IfMatch = None
    ) -> Any:
        view = await run_in_threadpool(
            lambda: ma.publish(
                gw,
                doc,
                admin.name,
                body.version,
                reason=body.reason,
                if_match=if_match,
                effective_from=body.effective_from,
            )
        )
        return _tagged(response, view)

    @router.post(f"/{doc}/rollback", summary="Publish the previously published content again", responses=_CHANGE)
    async def rollback(
        body: GovernedReasonIn, response: Response, gw: GatewayDep, admin: Admin, if_match: IfMatch = None
    ) -> Any:
        view = await run_in_threadpool(lambda: ma.rollback(gw, doc, admin.name, reason=body.reason, if_match=if_match))
        return _tagged(response, view)


_routes("model")
_routes("catalogue")


@router.post(
    "/model/impact",
    summary="The current population by tier under a draft model against the live one",
    description="Scored by the scoring core over the stored records; a sample (size stated) beyond a million.",
    responses=PROBLEMS(401, 403, 404, 422),
)
async def impact(body: ModelPreviewIn, gw: GatewayDep, _: Reader) -> Any:
    return await run_in_threadpool(lambda: ma.preview_model(gw, version=body.version, document=body.document))
