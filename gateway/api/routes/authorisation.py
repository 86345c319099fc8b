"""The scoring authorisation: the resident's own (`/v1/me/authorisation`), the credit centre's
counter channel (`/v1/officer/authorisations`), and the notices shown when it is given."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import GatewayDep, OfficerDep, ResidentDep
from gateway.api.schemas import PROBLEMS
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id
from gateway.services.residents import authorisation as service
from gateway.services.residents.notices import get_notice
from gateway.services.residents.resident_identity import Resident

router = APIRouter(tags=["residents"])


class AuthorisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["app", "wechat", "kiosk"] = Field(description="The designated channel the resident used.")
    notice_id: str | None = Field(None, max_length=64, description="The scoring notice shown (default: the newest).")
    notice_version: str | None = Field(None, max_length=16, description="Its version.")


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["app", "wechat", "kiosk"] = "app"


class CounterAuthorisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(min_length=1, max_length=32, description="The resident's ID number, checked in person.")
    name: str = Field(min_length=1, max_length=64, description="The resident's name as on the ID card.")
    decision: Literal["granted", "withdrawn"]
    case_reference: str = Field(min_length=1, max_length=64, description="The counter case reference (audited).")
    notice_id: str | None = Field(None, max_length=64)
    notice_version: str | None = Field(None, max_length=16)


_AUTH_DESCRIPTION = (
    "`status` is `granted`, `withdrawn` or `none`. After a withdrawal `records_deleted_after` says when the "
    "retention run deletes everything held about the resident unless they authorise again before."
)


@router.get(
    "/v1/me/authorisation",
    summary="My authorisation to be scored",
    description=_AUTH_DESCRIPTION,
    responses=PROBLEMS(401, 503),
)
async def show(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(lambda: service.authorisation_view(gw, resident))


@router.post(
    "/v1/me/authorisation",
    summary="Authorise scoring (I am scored at once from the records already held)",
    description="Records the channel, the time and the id and version of the scoring notice shown. "
    + _AUTH_DESCRIPTION,
    responses=PROBLEMS(401, 422, 503),
)
async def grant(body: AuthorisationIn, gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(
        lambda: service.grant_authorisation(
            gw, resident, channel=body.channel, notice_id=body.notice_id, notice_version=body.notice_version
        )
    )


@router.delete(
    "/v1/me/authorisation",
    summary="Withdraw my authorisation to be scored",
    description=(
        "In one transaction: the score is withdrawn (reason `authorisation_withdrawn`), every disclosure consent "
        "ends, every live assertion is revoked in the status list, and the records are scheduled for deletion."
    ),
    responses=PROBLEMS(401, 409, 503),
)
async def withdraw(
    gw: GatewayDep, resident: ResidentDep, channel: Annotated[Literal["app", "wechat", "kiosk"], Query()] = "app"
) -> Any:
    return await run_in_threadpool(lambda: service.withdraw_authorisation(gw, resident, channel=channel))


def _resident_at_counter(gw: Any, id_number: str, name: str) -> Resident:
    rid = parse_resident_id(id_number)
    return Resident(gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(name), mask_name(name), rid.birth_date)


@router.post(
    "/v1/officer/authorisations",
    tags=["credit officers"],
    summary="Record an authorisation (or withdrawal) a resident gave in person at the counter",
    description="The officer's name and the case reference are audited. The ID number travels in the body only.",
    responses=PROBLEMS(401, 403, 409, 422, 503),
)
async def counter(body: CounterAuthorisationIn, gw: GatewayDep, officer: OfficerDep) -> Any:
    def run() -> Any:
        resident = _resident_at_counter(gw, body.id_number, body.name)
        actor = ("officer", officer.name)
        details = {"case_ref": body.case_reference}
        if body.decision == "granted":
            view = service.grant_authorisation(
                gw,
                resident,
                channel="counter",
                notice_id=body.notice_id,
                notice_version=body.notice_version,
                actor=actor,
                details=details,
            )
        else:
            view = service.withdraw_authorisation(gw, resident, channel="counter", actor=actor, details=details)
        # The officer learns the authorisation's state, not the resident's score.
        return {k: view[k] for k in ("status", "channel", "since", "records_deleted_after")}

    return await run_in_threadpool(run)


@router.get(
    "/notices/{notice_id}",
    tags=["residents"],
    summary="A privacy notice (PIPL Art. 17, 23), bilingual and versioned",
    description="Without `version`, the newest. The document follows `/schemas/notice.schema.json`.",
    responses=PROBLEMS(404),
)
async def notice(
    notice_id: str, version: Annotated[str | None, Query(max_length=16, description="e.g. 2026.1")] = None
) -> Any:
    return get_notice(notice_id, version).document
