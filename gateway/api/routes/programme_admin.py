"""Programmes owned by their providers: a bank or incentive provider (its partner token) under
``/v1/programmes/mine``, a ``partner_admin`` under ``/v1/admin/programmes``. The same ETag/If-Match
(412, 428), reasons, history and audit as crosswalks; another partner's programme is a 404."""

# No `from __future__ import annotations`: the routes are defined in a function, and FastAPI must
# see their local `CallerDep` annotation as an object, not a string to resolve in module globals.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import GatewayDep, PartnerDep, require_role
from gateway.api.schemas import PROBLEMS, Problem
from gateway.errors import PermissionDenied
from gateway.services.admin.admins import AdminPrincipal
from gateway.services.publication import programme_admin as pa
from gateway.services.publication.programme_admin import Caller
from gateway.services.recognition.programmes import DECIDING_KINDS

router = APIRouter(tags=["programme administration"])

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag last read; required on every change (428 without).")
]
IfNoneMatch = Annotated[
    str | None, Header(alias="If-None-Match", description="`*` to create a programme that does not exist yet.")
]
ProgrammeId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$", description="The programme's id.")]
Version = Annotated[int, Path(ge=1, le=1_000_000)]


async def _provider(principal: PartnerDep) -> Caller:
    if principal.partner.kind not in DECIDING_KINDS:
        raise PermissionDenied("Only financial institutions and incentive providers own programmes.")
    return Caller("partner", principal.partner.id)


async def _admin(principal: Annotated[AdminPrincipal, Depends(require_role("partner_admin"))]) -> Caller:
    return Caller("admin", principal.name)


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    problem = {"description": "Precondition required", "model": Problem, "content": {"application/problem+json": {}}}
    return {**PROBLEMS(*statuses), 428: problem}


_CHANGE = _problems(401, 403, 404, 409, 412, 422)


class ProgrammeDocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any] = Field(description="A programme document (programme.schema.json).")


class ProgrammeDraftIn(ProgrammeDocumentIn):
    reason: str = Field(min_length=1, max_length=1000, description="Why: kept in the audit log.")


class ProgrammeReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class ProgrammePublishIn(ProgrammeReasonIn):
    version: int = Field(ge=1, description="The draft to put in force.")


class ProgrammePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1, description="A stored draft to preview…")
    document: dict[str, Any] | None = Field(None, description="…or a document not stored yet.")


def _tagged(response: Response, view: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = view["etag"]
    return view


def _routes(prefix: str, who: Callable[..., Awaitable[Caller]], label: str) -> None:
    CallerDep = Annotated[Caller, Depends(who)]

    @router.get(f"{prefix}", summary=f"{label}: programmes with the version in force", responses=PROBLEMS(401, 403))
    async def list_(gw: GatewayDep, caller: CallerDep) -> Any:
        return await run_in_threadpool(pa.list_programmes, gw, caller)

    @router.post(
        f"{prefix}/validate",
        summary=f"{label}: check a programme document without storing it",
        responses=PROBLEMS(401, 403, 422),
    )
    async def validate(body: ProgrammeDocumentIn, gw: GatewayDep, caller: CallerDep) -> Any:
        return await run_in_threadpool(pa.validate, gw, caller, body.document)

    @router.get(
        f"{prefix}/{{programme_id}}",
        summary=f"{label}: a programme, the document in force and its history (ETag)",
        responses=PROBLEMS(401, 403, 404),
    )
    async def show(programme_id: ProgrammeId, response: Response, gw: GatewayDep, caller: CallerDep) -> Any:
        return _tagged(response, await run_in_threadpool(pa.show, gw, caller, programme_id))

    @router.get(
        f"{prefix}/{{programme_id}}/versions/{{version}}",
        summary=f"{label}: one version of a programme",
        responses=PROBLEMS(401, 403, 404),
    )
    async def show_version(programme_id: ProgrammeId, version: Version, gw: GatewayDep, caller: CallerDep) -> Any:
        return await run_in_threadpool(pa.show_version, gw, caller, programme_id, version)

    @router.post(
        f"{prefix}/{{programme_id}}/drafts",
        status_code=201,
        summary=f"{label}: store the programme's next version, a draft",
        responses=_CHANGE,
    )
    async def draft(
        programme_id: ProgrammeId,
        body: ProgrammeDraftIn,
        response: Response,
        gw: GatewayDep,
        caller: CallerDep,
        if_match: IfMatch = None,
        if_none_match: IfNoneMatch = None,
    ) -> Any:
        view = await run_in_threadpool(
            lambda: pa.create_draft(
                gw,
                caller,
                programme_id,
                body.document,
                reason=body.reason,
                if_match=if_match,
                if_none_match=if_none_match,
            )
        )
        return _tagged(response, view)

    @router.post(
        f"{prefix}/{{programme_id}}/impact",
        summary=f"{label}: how many residents, by tier, the draft and the live version would serve",
        responses=PROBLEMS(401, 403, 404, 422),
    )
    async def impact(programme_id: ProgrammeId, body: ProgrammePreviewIn, gw: GatewayDep, caller: CallerDep) -> Any:
        return await run_in_threadpool(
            lambda: pa.preview(gw, caller, programme_id, version=body.version, document=body.document)
        )

    @router.post(f"{prefix}/{{programme_id}}/publish", summary=f"{label}: put a draft in force", responses=_CHANGE)
    async def publish(
        programme_id: ProgrammeId,
        body: ProgrammePublishIn,
        response: Response,
        gw: GatewayDep,
        caller: CallerDep,
        if_match: IfMatch = None,
    ) -> Any:
        view = await run_in_threadpool(
            lambda: pa.publish(gw, caller, programme_id, body.version, reason=body.reason, if_match=if_match)
        )
        return _tagged(response, view)

    @router.post(
        f"{prefix}/{{programme_id}}/rollback",
        summary=f"{label}: publish the previously published content again",
        responses=_CHANGE,
    )
    async def rollback(
        programme_id: ProgrammeId,
        body: ProgrammeReasonIn,
        response: Response,
        gw: GatewayDep,
        caller: CallerDep,
        if_match: IfMatch = None,
    ) -> Any:
        view = await run_in_threadpool(
            lambda: pa.rollback(gw, caller, programme_id, reason=body.reason, if_match=if_match)
        )
        return _tagged(response, view)


_routes("/v1/programmes/mine", _provider, "Provider")
_routes("/v1/admin/programmes", _admin, "Administrator")
