"""The exchange format in use: issuing assertions, and what a verifier needs to check them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ExchangePartnerDep, GatewayDep
from gateway.api.idempotency import IdempotencyDep
from gateway.api.schemas import PROBLEMS, JwkSetResponse
from gateway.exchange import SUPPORTED_ALGORITHMS, TYP_SCORE_ASSERTION
from gateway.services.exchange.issuance import COMMON_SCHEME, JURISDICTION, issue_assertion_admitted
from gateway.services.publication.documents import document_index
from gateway.services.publication.purposes import PURPOSE_CODES, purpose_list

router = APIRouter()

PURPOSES = PURPOSE_CODES
# The closed list of gateway.services.publication.purposes, spelled out for the OpenAPI enum (a test keeps them equal).
Purpose = Literal[
    "cross_city_recognition",
    "loan_discount",
    "credit_line",
    "deposit_waiver",
    "public_transport",
    "tourism",
    "culture",
    "hotel_catering",
    "rental",
    "elderly_care",
    "medical_pay_later",
]
_JWKS_MAX_AGE = 300  # seconds: short enough that a pre-published next key is seen before it signs


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(min_length=1, max_length=32, description="Used for matching only; never stored or echoed")
    name: str = Field(min_length=1, max_length=64, description="Used for matching only; never stored or echoed")


class AssertionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: Subject
    purpose: Purpose
    disclosure: Literal["tier", "score"] = "tier"


class AssertionResponse(BaseModel):
    assertion: str = Field(description="Compact JWS, header typ score-assertion+jwt")
    token_type: str
    jti: str
    issued_at: int
    expires_at: int


@router.post(
    "/v1/assertions",
    tags=["exchange"],
    summary="Issue a signed score assertion about a consenting resident",
    description=(
        "Issued only when a live consent of the person covers the calling partner, the purpose and "
        "the disclosure level, and the person is eligible with a current score. Every refusal that "
        "depends on the person is the same 403 `disclosure_refused`. The claims follow "
        "`/schemas/score-assertion.schema.json`."
    ),
    status_code=201,
    response_model=AssertionResponse,
    responses=PROBLEMS(401, 403, 422),
)
async def create_assertion(
    body: AssertionRequest, gw: GatewayDep, principal: ExchangePartnerDep, idem: IdempotencyDep
) -> Any:
    async def produce() -> Any:
        issued = await issue_assertion_admitted(
            gw,
            principal,
            id_number=body.subject.id_number,
            name=body.subject.name,
            purpose=body.purpose,
            disclosure=body.disclosure,
        )
        return issued.as_dict()

    return await idem.run(principal.partner.id, produce)  # issue 13: Idempotency-Key


@router.get(
    "/.well-known/jwks.json",
    tags=["exchange format"],
    summary="The gateway's public signing keys",
    response_class=JwkSetResponse,
)
async def jwks(gw: GatewayDep) -> JSONResponse:
    return JwkSetResponse(
        gw.keyring.jwks(),
        headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"},
    )


def issuer_metadata(gw: Any) -> dict[str, Any]:
    issuer = gw.settings.issuer
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/oauth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(SUPPORTED_ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "assertion_endpoint": f"{issuer}/v1/assertions",
        "assertion_typ": TYP_SCORE_ASSERTION,
        "assertion_signing_alg_values_supported": ["ES256", "EdDSA"],
        "purposes_supported": list(PURPOSES),
        "disclosure_levels_supported": ["tier", "score"],
        "max_assertion_lifetime": gw.settings.assertion_lifetime,
        "schemas": {
            "score_assertion": f"{issuer}/schemas/score-assertion.schema.json",
            "tier_scheme": f"{issuer}/schemas/tier-scheme.schema.json",
            "crosswalk": f"{issuer}/schemas/crosswalk.schema.json",
        },
        "regional_schemes": [COMMON_SCHEME],
        "local_scheme": f"sx-integrity/{gw.model.version}",
        "jurisdiction": JURISDICTION,
    }


@router.get("/.well-known/score-issuer", tags=["exchange format"], summary="Issuer metadata")
async def score_issuer(gw: GatewayDep) -> JSONResponse:
    metadata = issuer_metadata(gw)
    # Issue 16: where each public document is, and the digest a partner can pin it by.
    metadata["published_documents"] = await run_in_threadpool(document_index, gw)
    metadata["purposes"] = purpose_list()
    metadata["programmes_endpoint"] = f"{gw.settings.issuer}/v1/programmes"
    return JSONResponse(metadata, headers={"Cache-Control": "public, max-age=3600"})


@router.get(
    "/.well-known/jwt-vc-issuer",
    tags=["exchange format"],
    summary="JWT VC issuer metadata (SD-JWT VC): issuer and jwks_uri",
)
async def jwt_vc_issuer(gw: GatewayDep) -> JSONResponse:
    issuer = gw.settings.issuer
    return JSONResponse(
        {"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"},
        headers={"Cache-Control": "public, max-age=3600"},
    )
