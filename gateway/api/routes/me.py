"""Residents: their consents, their own score and the log of disclosures about them.

Every route needs the real-name identity provider's ID token (measure 一(一)); queries are free
(三(二)). Routes stay thin: the services do the work in a threadpool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from gateway.api.deps import GatewayDep, ResidentDep
from gateway.api.schemas import PROBLEMS
from gateway.services.residents import consents as consent_service
from gateway.services.residents import me as me_service

router = APIRouter(prefix="/v1/me", tags=["residents"])

_CONSENT_ID = Path(min_length=1, max_length=64, description="The consent's id (`cns_…`).")


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audience: str = Field(min_length=1, max_length=64, description="The partner id the consent is given to.")
    purposes: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1,
        max_length=16,
        description="A non-empty subset of the audience's allowed purposes.",
    )
    disclosure: Literal["tier", "score"] = Field("tier", description="`tier`, or `score` (which also covers the tier).")
    valid_days: StrictInt | None = Field(  # strict: `true` is not one day
        None,
        description="How long the consent lasts: 1 to 365 days, 180 if neither this nor expires_at is given.",
        json_schema_extra={"minimum": 1, "maximum": consent_service.MAX_VALID_DAYS},
    )
    expires_at: AwareDatetime | None = Field(
        None, description="Alternatively, the instant the consent ends: at most a year ahead."
    )
    channel: Literal["app", "wechat", "kiosk"] = Field(description="The channel the consent was given through.")


class Label(BaseModel):
    zh: str
    en: str


class ConsentOut(BaseModel):
    id: str
    audience: str
    audience_name: Label | None = Field(description="The partner's name in the registry.")
    purposes: list[str]
    disclosure: str
    channel: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    status: Literal["active", "expired", "revoked"]


class DisclosureOut(BaseModel):
    audience: str
    audience_name: Label | None = Field(description="The partner's name in the registry.")
    purpose: str
    disclosure: str
    tier: str
    consent_id: str
    jti: str
    issued_at: str
    expires_at: str


@router.post(
    "/consents",
    status_code=201,
    response_model=ConsentOut,
    summary="Consent to disclose my score or tier to a partner",
    responses=PROBLEMS(401, 422, 503),
)
async def grant(body: ConsentIn, gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(
        lambda: consent_service.grant_consent(
            gw,
            resident,
            audience=body.audience,
            purposes=body.purposes,
            disclosure=body.disclosure,
            valid_days=body.valid_days,
            expires_at=body.expires_at,
            channel=body.channel,
        )
    )


@router.get(
    "/consents",
    response_model=list[ConsentOut],
    summary="My consents, active, expired and revoked",
    responses=PROBLEMS(401, 503),
)
async def list_mine(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(consent_service.list_consents, gw, resident)


@router.delete(
    "/consents/{consent_id}",
    response_model=ConsentOut,
    summary="Revoke a consent",
    description="Takes effect at once for new assertions. Revoking a revoked consent changes nothing.",
    responses=PROBLEMS(401, 404, 503),
)
async def revoke(consent_id: Annotated[str, _CONSENT_ID], gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(consent_service.revoke_consent, gw, resident, consent_id)


@router.get(
    "/score",
    summary="My integrity score, tier and breakdown (free of charge)",
    description=(
        "`status` is `scored`, `ineligible` (with the reason) or `not_scored`. The breakdown lists "
        "the records that counted, with their unit, item and date, so that an item can be objected to."
    ),
    responses=PROBLEMS(401, 404, 503),
)
async def score(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(me_service.my_score, gw, resident)


@router.get(
    "/disclosures",
    response_model=list[DisclosureOut],
    summary="Every assertion issued about me, newest first",
    responses=PROBLEMS(401, 503),
)
async def disclosure_log(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(me_service.my_disclosures, gw, resident)
