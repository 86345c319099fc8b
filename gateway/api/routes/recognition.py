"""Cross-city recognition: partner assertions translated into Shaoxing's tiers, and signed
eligibility decisions for banks and incentive providers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ExchangePartnerDep, GatewayDep
from gateway.api.idempotency import IdempotencyDep
from gateway.api.routes.exchange import Purpose
from gateway.api.schemas import PROBLEMS, Problem
from gateway.errors import ValidationFailed
from gateway.services.credential.recognition import recognise_presentation
from gateway.services.recognition.eligibility import decide
from gateway.services.recognition.recognition import recognise

router = APIRouter()

_ASSERTION = Field(min_length=1, max_length=16 * 1024, description="A score assertion (compact JWS) addressed to you")
# 502: the issuer's key set or status list was fetched but is unusable (jwks_invalid, status_list_rejected).
_BAD_UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: {
        "description": "The issuer's published material is unusable",
        "model": Problem,
        "content": {"application/problem+json": {}},
    }
}


class RecognitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assertion: str = Field(
        min_length=1,
        max_length=16 * 1024,
        description="A score assertion (compact JWS) addressed to you, or an SD-JWT VC presentation "
        "(`<jwt>~<disclosures>~<kb-jwt>`, tier disclosed, KB-JWT aud = you), which also needs purpose and nonce",
    )
    purpose: Purpose | None = Field(default=None, description="When given, the assertion must carry this purpose")
    # issue 10: the nonce the caller gave the wallet, for an SD-JWT VC presentation
    nonce: str | None = Field(None, min_length=1, max_length=128, description="For a presentation: your nonce")


class TierOut(BaseModel):
    scheme: str
    code: str
    label: dict[str, str] | None


class CommonLevelOut(BaseModel):
    scheme: str
    level: str


class CrosswalkRefOut(BaseModel):
    id: str
    version: int
    digest: str


class ProgrammeOfferOut(BaseModel):
    id: str
    version: int
    digest: str
    example: bool
    name: dict[str, str]
    purpose: str
    benefit: dict[str, Any]


class RecognitionResponse(BaseModel):
    issuer: str
    issuer_partner: str | None = Field(description="The partner id of the issuing city platform; null for this gateway")
    partner_tier: TierOut
    common_level: CommonLevelOut
    local_equivalent: TierOut | None = Field(description="The Shaoxing equivalent; null when the tier cannot be placed")
    placement: str = Field(description="translated, no_crosswalk or not_placed")
    provisional: bool = Field(description="True when a crosswalk used is provisional (no agreement behind it)")
    crosswalks: list[CrosswalkRefOut]
    programmes: list[ProgrammeOfferOut] = Field(description="Your programmes for this purpose the person qualifies for")
    jti: str
    purpose: str
    expires_at: int
    recognised_at: int


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assertion: str = _ASSERTION
    programme_id: str = Field(min_length=1, max_length=64)


class DecisionOut(BaseModel):
    decision: str = Field(
        description="Compact JWS, header typ eligibility-decision+jwt, signed with the gateway's keys"
    )
    token_type: str
    jti: str
    eligible: bool
    benefit: dict[str, Any] | None
    level: dict[str, str] | None = Field(description="The level the rule was applied to: basis, scheme, code")
    common_level: CommonLevelOut
    reasons: list[dict[str, str]]
    programme: dict[str, Any]
    assertion_jti: str
    decided_at: int
    expires_at: int


@router.post(
    "/v1/recognitions",
    tags=["recognition"],
    summary="Recognise a partner city's score assertion in Shaoxing's tiers",
    description=(
        "Verifies an assertion addressed to you by a registered city platform (or by this gateway): trust anchor, "
        "signature, `typ`, algorithm, `iss`, `aud`, time window, schema and status list. Translates its tier through "
        "`yrd-common/1` into the Shaoxing equivalent and lists your programmes for the assertion's purpose that the "
        "person qualifies for. No score is ever returned. Each failed check has its own problem `code`."
    ),
    response_model=RecognitionResponse,
    responses={**PROBLEMS(401, 403, 422, 503), **_BAD_UPSTREAM},
)
async def create_recognition(body: RecognitionRequest, gw: GatewayDep, principal: ExchangePartnerDep) -> Any:
    if "~" in body.assertion:  # issue 10: an SD-JWT VC presentation (a compact JWS has no "~")
        if body.purpose is None or body.nonce is None:
            raise ValidationFailed("A presentation needs the purpose and the nonce you gave the wallet.")
        recognition = await recognise_presentation(
            gw, principal, body.assertion, nonce=body.nonce, purpose=body.purpose
        )
        return recognition.as_dict()
    recognition = await recognise(gw, principal, body.assertion, purpose=body.purpose)
    return recognition.as_dict()


@router.post(
    "/v1/eligibility",
    tags=["recognition"],
    summary="A signed eligibility decision for one of your programmes",
    description=(
        "For financial institutions and incentive providers: the assertion (addressed to you, issued for the "
        "programme's purpose) is verified like a recognition, the programme's rule applied, and the decision returned "
        "as a JWS (`typ` `eligibility-decision+jwt`, `aud` = you) that verifies with `/.well-known/jwks.json`. "
        "It never contains a score."
    ),
    status_code=201,
    response_model=DecisionOut,
    responses={**PROBLEMS(401, 403, 404, 422, 503), **_BAD_UPSTREAM},
)
async def create_eligibility_decision(
    body: EligibilityRequest, gw: GatewayDep, principal: ExchangePartnerDep, idem: IdempotencyDep
) -> Any:
    async def produce() -> Any:
        return (await decide(gw, principal, body.assertion, body.programme_id)).as_dict()

    return await idem.run(principal.partner.id, produce)  # issue 13: Idempotency-Key
