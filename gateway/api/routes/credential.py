"""The credit code (信用码): issuer metadata, Type Metadata, nonce and credential endpoints
(OpenID4VCI 1.0), for the resident's wallet."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import GatewayDep, HolderDep
from gateway.api.schemas import PROBLEMS
from gateway.services.credential import issuance, metadata, nonces

router = APIRouter(tags=["credit code"])


class Proofs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jwt: list[str] = Field(min_length=1, max_length=1, description="One `openid4vci-proof+jwt` key proof.")


class CredentialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential_configuration_id: str = Field(max_length=64, description="`sx-credit-code`.")
    proofs: Proofs
    include_score: bool = Field(
        False, description="Put the score among the disclosable claims (the resident's choice)."
    )


class IssuedCredentialOut(BaseModel):
    credentials: list[dict[str, str]] = Field(description="`[{credential: <SD-JWT VC>}]` (OpenID4VCI 1.0 §8.3).")
    expires_at: int


@router.get("/.well-known/openid-credential-issuer", summary="OpenID4VCI credential issuer metadata")
async def credential_issuer(gw: GatewayDep) -> JSONResponse:
    return JSONResponse(metadata.issuer_metadata(gw), headers={"Cache-Control": "public, max-age=3600"})


@router.get(metadata.VCT_PATH, summary="SD-JWT VC Type Metadata of the credit code (its vct resolves here)")
async def credit_code_type(gw: GatewayDep) -> JSONResponse:
    return JSONResponse(metadata.type_metadata(gw), headers={"Cache-Control": "public, max-age=3600"})


@router.post(
    "/v1/credential-nonces",
    summary="A fresh nonce for a key proof (OpenID4VCI nonce endpoint; single use, 5 minutes)",
    responses=PROBLEMS(503),
)
async def credential_nonce(gw: GatewayDep) -> JSONResponse:
    nonce, _ = await run_in_threadpool(nonces.new_nonce, gw)
    return JSONResponse({"c_nonce": nonce}, headers={"Cache-Control": "no-store"})


@router.post(
    "/v1/credentials",
    summary="Issue my credit code to my wallet (OpenID4VCI credential endpoint)",
    description=(
        "Bearer: the resident's ID token (or the residents' pages' session cookie with its CSRF token in "
        "`X-CSRF-Token`, for the page's in-browser holder). One `openid4vci-proof+jwt` key proof with "
        "`aud` = the issuer, "
        "a fresh `iat` and a nonce from `/v1/credential-nonces`. Only a resident authorised to be scored "
        "with a current score; a new credential supersedes the earlier ones."
    ),
    response_model=IssuedCredentialOut,
    responses=PROBLEMS(400, 401, 403, 422, 503),
)
async def credential(body: CredentialRequest, gw: GatewayDep, resident: HolderDep) -> Any:
    issued = await run_in_threadpool(
        lambda: issuance.issue_credential(
            gw,
            resident,
            configuration_id=body.credential_configuration_id,
            proofs=body.proofs.jwt,
            include_score=body.include_score,
        )
    )
    return JSONResponse(issued.as_dict(), headers={"Cache-Control": "no-store"})
