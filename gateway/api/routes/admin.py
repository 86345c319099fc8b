"""Administrators: tier crosswalks (mapping_admin), partners (partner_admin), the audit log (auditor).

Auditors may read everything here and change nothing. Every change sends the resource's ETag in
``If-Match`` (412 when another change came first, 428 when it is missing) and a reason, and is
written to the audit log. The work is done by the services, in a threadpool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from gateway.api.deps import AdminDep, GatewayDep, require_role
from gateway.api.schemas import DB_INT_MAX, PROBLEMS, DateTimeParam, Problem
from gateway.errors import PermissionDenied
from gateway.services.admin import admin_audit, crosswalk_analysis, mapping_admin, partner_admin
from gateway.services.admin.admins import AdminPrincipal
from gateway.services.context import Gateway

router = APIRouter(prefix="/v1/admin", tags=["administration"])


def _any_role(*roles: str) -> Callable[[AdminPrincipal], AdminPrincipal]:
    def check(principal: AdminDep) -> AdminPrincipal:
        if not principal.roles & set(roles):
            raise PermissionDenied(f"This needs one of the roles {', '.join(roles)}.", required_roles=list(roles))
        return principal

    return check


MappingReader = Annotated[AdminPrincipal, Depends(_any_role("mapping_admin", "auditor"))]
MappingAdmin = Annotated[AdminPrincipal, Depends(require_role("mapping_admin"))]
PartnerReader = Annotated[AdminPrincipal, Depends(_any_role("partner_admin", "auditor"))]
PartnerAdmin = Annotated[AdminPrincipal, Depends(require_role("partner_admin"))]
Auditor = Annotated[AdminPrincipal, Depends(require_role("auditor"))]

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag last read; required on every change (428 without).")
]
IfNoneMatch = Annotated[
    str | None, Header(alias="If-None-Match", description="`*` to create a crosswalk that does not exist yet.")
]
CrosswalkId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="The crosswalk's id.")]
PartnerId = Annotated[str, Path(min_length=1, max_length=64, description="The partner's id in the registry.")]
Version = Annotated[int, Path(ge=1, le=1_000_000)]


def _change(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """PROBLEMS plus 428, which only these routes answer (the shared table has no entry for it)."""
    problem = {"description": "Precondition required", "model": Problem, "content": {"application/problem+json": {}}}
    return {**PROBLEMS(*statuses), 428: problem}


_CROSSWALK_CHANGE = _change(401, 403, 404, 409, 412, 422)
_PARTNER_CHANGE = _change(401, 403, 404, 412, 422)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000, description="Why: kept in the audit log.")


class DraftIn(ReasonIn):
    document: dict[str, Any] = Field(description="A crosswalk document (crosswalk.schema.json); the server numbers it.")


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any]


class ImpactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: StrictInt | None = Field(None, ge=1, le=DB_INT_MAX, description="A stored draft to preview…")
    document: dict[str, Any] | None = Field(None, description="…or a document not stored yet.")


class PublishIn(ReasonIn):
    version: StrictInt = Field(ge=1, le=DB_INT_MAX, description="The draft to put in force.")


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    local: dict[str, Any] = Field(description="The local scale's score distribution (histogram or quantiles).")
    common: dict[str, Any] = Field(description="The reference distribution with the common levels' anchors.")
    crosswalk_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    local_scheme: str | None = Field(None, max_length=64, description="Default: the local distribution's `scale`.")
    effective_from: date | None = None


class JwksIn(ReasonIn):
    jwks: dict[str, Any] = Field(description="The partner's new JWK Set: public keys only, at least one usable.")


class PurposesIn(ReasonIn):
    allowed_purposes: list[Annotated[str, Field(max_length=32)]] = Field(
        max_length=32, description="The partner's allowed purposes, from the published closed list (may be empty)."
    )


def _tagged(response: Response, view: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = view["etag"]
    return view


# --- crosswalks ------------------------------------------------------------------------------


@router.get("/crosswalks", summary="Every crosswalk, with the version in force", responses=PROBLEMS(401, 403))
async def list_crosswalks(gw: GatewayDep, _: MappingReader) -> Any:
    return await run_in_threadpool(mapping_admin.list_crosswalks, gw)


@router.post(
    "/crosswalks/validate",
    summary="Check a crosswalk document against the published schemes, without storing it",
    description="Total, monotonic, no gap or overlap, every tier known; 422 `invalid_mapping` names the rule broken.",
    responses=PROBLEMS(401, 403, 422),
)
async def validate(body: DocumentIn, gw: GatewayDep, _: MappingAdmin) -> Any:
    return await run_in_threadpool(mapping_admin.validate_document, gw, body.document)


@router.post(
    "/crosswalks/proposals",
    summary="Propose a crosswalk from two score distributions (equipercentile linking)",
    description=(
        "Local score bands that hold the same share of people at or above each common level as the reference. "
        "The answer is a draft document to review, edit and submit; nothing is stored."
    ),
    responses=PROBLEMS(401, 403, 422),
)
async def proposal(body: ProposalIn, gw: GatewayDep, _: MappingAdmin) -> Any:
    return await run_in_threadpool(
        lambda: crosswalk_analysis.propose(
            gw.mappings.schemes,
            body.local,
            body.common,
            crosswalk_id=body.crosswalk_id,
            local_scheme=body.local_scheme,
            effective_from=body.effective_from,
        )
    )


@router.get(
    "/crosswalks/{crosswalk_id}",
    summary="A crosswalk: the published document and every version's history",
    description="The ETag header (and `etag`) is what a change sends back in If-Match.",
    responses=PROBLEMS(401, 403, 404),
)
async def show(crosswalk_id: CrosswalkId, response: Response, gw: GatewayDep, _: MappingReader) -> Any:
    return _tagged(response, await run_in_threadpool(mapping_admin.show_crosswalk, gw, crosswalk_id))


@router.get(
    "/crosswalks/{crosswalk_id}/versions/{version}",
    summary="One version of a crosswalk, with its document",
    responses=PROBLEMS(401, 403, 404),
)
async def show_version(crosswalk_id: CrosswalkId, version: Version, gw: GatewayDep, _: MappingReader) -> Any:
    return await run_in_threadpool(mapping_admin.show_version, gw, crosswalk_id, version)


@router.post(
    "/crosswalks/{crosswalk_id}/drafts",
    status_code=201,
    summary="Store a document as the crosswalk's next version, a draft",
    description="If-Match with the crosswalk's ETag; `If-None-Match: *` to create a new crosswalk.",
    responses=_CROSSWALK_CHANGE,
)
async def create_draft(
    crosswalk_id: CrosswalkId,
    body: DraftIn,
    response: Response,
    gw: GatewayDep,
    admin: MappingAdmin,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: mapping_admin.create_draft(
            gw,
            admin.name,
            crosswalk_id,
            body.document,
            reason=body.reason,
            if_match=if_match,
            if_none_match=if_none_match,
        )
    )
    return _tagged(response, view)


@router.post(
    "/crosswalks/{crosswalk_id}/impact",
    summary="How many Shaoxing residents would change common level, per level",
    description="Counts current scores under the published version and under a draft (or a document).",
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def impact(crosswalk_id: CrosswalkId, body: ImpactIn, gw: GatewayDep, _: MappingReader) -> Any:
    return await run_in_threadpool(
        lambda: crosswalk_analysis.preview_impact(gw, crosswalk_id, version=body.version, document=body.document)
    )


@router.post(
    "/crosswalks/{crosswalk_id}/publish",
    summary="Put a draft in force",
    description="Every gateway process serves the new version within a few seconds.",
    responses=_CROSSWALK_CHANGE,
)
async def publish(
    crosswalk_id: CrosswalkId,
    body: PublishIn,
    response: Response,
    gw: GatewayDep,
    admin: MappingAdmin,
    if_match: IfMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: mapping_admin.publish(gw, admin.name, crosswalk_id, body.version, reason=body.reason, if_match=if_match)
    )
    return _tagged(response, view)


@router.post(
    "/crosswalks/{crosswalk_id}/rollback",
    summary="Publish the previously published content again, as a new version",
    responses=_CROSSWALK_CHANGE,
)
async def rollback(
    crosswalk_id: CrosswalkId,
    body: ReasonIn,
    response: Response,
    gw: GatewayDep,
    admin: MappingAdmin,
    if_match: IfMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: mapping_admin.rollback(gw, admin.name, crosswalk_id, reason=body.reason, if_match=if_match)
    )
    return _tagged(response, view)


# --- partners --------------------------------------------------------------------------------


@router.get("/partners", summary="Every partner, with administrators' overrides", responses=PROBLEMS(401, 403))
async def list_partners(gw: GatewayDep, _: PartnerReader) -> Any:
    return await run_in_threadpool(partner_admin.list_partners, gw)


@router.get("/partners/{partner_id}", summary="One partner, with its ETag", responses=PROBLEMS(401, 403, 404))
async def show_partner(partner_id: PartnerId, response: Response, gw: GatewayDep, _: PartnerReader) -> Any:
    return _tagged(response, await run_in_threadpool(partner_admin.show_partner, gw, partner_id))


async def _set_enabled(
    gw: Gateway, admin: AdminPrincipal, partner_id: str, enabled: bool, reason: str, if_match: str | None
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: partner_admin.set_enabled(gw, admin.name, partner_id, enabled, reason=reason, if_match=if_match)
    )


@router.post(
    "/partners/{partner_id}/enable",
    summary="Enable a partner",
    responses=_PARTNER_CHANGE,
)
async def enable(
    partner_id: PartnerId,
    body: ReasonIn,
    response: Response,
    gw: GatewayDep,
    admin: PartnerAdmin,
    if_match: IfMatch = None,
) -> Any:
    return _tagged(response, await _set_enabled(gw, admin, partner_id, True, body.reason, if_match))


@router.post(
    "/partners/{partner_id}/disable",
    summary="Disable a partner: no new tokens, and its tokens stop working, in every process",
    responses=_PARTNER_CHANGE,
)
async def disable(
    partner_id: PartnerId,
    body: ReasonIn,
    response: Response,
    gw: GatewayDep,
    admin: PartnerAdmin,
    if_match: IfMatch = None,
) -> Any:
    return _tagged(response, await _set_enabled(gw, admin, partner_id, False, body.reason, if_match))


@router.put(
    "/partners/{partner_id}/jwks",
    summary="Rotate a partner's keys: replace its JWK Set",
    description="Refused (422 `jwks_rejected`) with private key members or without a usable key.",
    responses=_PARTNER_CHANGE,
)
async def replace_jwks(
    partner_id: PartnerId,
    body: JwksIn,
    response: Response,
    gw: GatewayDep,
    admin: PartnerAdmin,
    if_match: IfMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: partner_admin.replace_jwks(gw, admin.name, partner_id, body.jwks, reason=body.reason, if_match=if_match)
    )
    return _tagged(response, view)


@router.put(
    "/partners/{partner_id}/purposes",
    summary="Change a partner's allowed purposes (also on the console's partners page)",
    description=(
        "Each from the closed list (`purposes` in `/.well-known/score-issuer`); refused "
        "(422 `purposes_rejected`) otherwise or for a collaborating unit. A purpose taken away stops at "
        "once for the partner's live tokens as well."
    ),
    responses=_PARTNER_CHANGE,
)
async def set_purposes(
    partner_id: PartnerId,
    body: PurposesIn,
    response: Response,
    gw: GatewayDep,
    admin: PartnerAdmin,
    if_match: IfMatch = None,
) -> Any:
    view = await run_in_threadpool(
        lambda: partner_admin.set_allowed_purposes(
            gw, admin.name, partner_id, body.allowed_purposes, reason=body.reason, if_match=if_match
        )
    )
    return _tagged(response, view)


# --- audit -----------------------------------------------------------------------------------


@router.get(
    "/audit",
    summary="The audit log, newest first",
    description="Every filter is an exact match; `next_before_id` pages further back.",
    responses=PROBLEMS(401, 403, 422),
)
async def audit(
    gw: GatewayDep,
    _: Auditor,
    actor_id: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_ref: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[DateTimeParam | None, Query(description="Inclusive, with a time zone.")] = None,
    until: Annotated[DateTimeParam | None, Query(description="Exclusive, with a time zone.")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=admin_audit.MAX_LIMIT)] = 100,
) -> Any:
    f = admin_audit.AuditFilter(actor_id, action, target_type, target_ref, since, until, before_id, limit)
    return await run_in_threadpool(admin_audit.read_audit, gw, f)
