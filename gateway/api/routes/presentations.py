"""Presenting the credit code online: verifier-first requests, the wallet's answer, the verifier's
poll, and the resident's list of their presentations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.deps import ExchangePartnerDep, GatewayDep, ResidentDep
from gateway.api.idempotency import IdempotencyDep
from gateway.api.schemas import PROBLEMS
from gateway.services.credential import presentations, qr

router = APIRouter(tags=["credit code"])

_ID = Path(min_length=1, max_length=64, pattern=r"^prq_[A-Za-z0-9_-]+$", description="The request id (`prq_…`).")
_NO_STORE = {"Cache-Control": "no-store"}


class PresentationRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: str | None = Field(None, max_length=32, description="Required unless programme_id is given.")
    claims: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=12,
        description="Claim paths of the credit code, e.g. `level_at_least.good`, `tier`, `name_masked`.",
    )
    programme_id: str | None = Field(None, max_length=128, description="A programme whose thresholds imply the claims.")


class PresentationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vp_token: str | None = Field(
        None, min_length=1, max_length=16384, description="The SD-JWT VC presentation, KB-JWT included."
    )
    error: Literal["access_denied"] | None = Field(
        None, description="Instead of `vp_token`: the holder declines (OpenID4VP error response)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> PresentationIn:
        if (self.vp_token is None) == (self.error is None):
            raise ValueError("send either vp_token or error")
        return self


class PresentationRequestOut(BaseModel):
    request_id: str
    nonce: str
    expires_at: int
    purpose: str
    claims: list[str]
    request_uri: str
    response_uri: str
    qr_content: str = Field(description="What the QR code holds (an `openid4vp://` link to request_uri).")
    qr_svg: str = Field(description="The QR code as an SVG document.")
    qr_png_url: str


@router.post(
    "/v1/presentation-requests",
    status_code=201,
    response_model=PresentationRequestOut,
    summary="Ask a resident to present their credit code (verifier first; QR code included)",
    responses=PROBLEMS(401, 403, 404, 422, 503),
)
async def create(
    body: PresentationRequestIn, gw: GatewayDep, principal: ExchangePartnerDep, idem: IdempotencyDep
) -> Any:
    async def produce() -> Any:
        req = await run_in_threadpool(
            lambda: presentations.create_request(
                gw, principal, purpose=body.purpose, claims=body.claims, programme_id=body.programme_id
            )
        )
        content = presentations.qr_content(gw, req)
        return {
            "request_id": req.id,
            "nonce": req.nonce,
            "expires_at": req.expires_at,
            "purpose": req.purpose,
            "claims": req.claims,
            "request_uri": presentations.request_uri(gw, req.id),
            "response_uri": presentations.response_uri(gw, req.id),
            "qr_content": content,
            "qr_svg": qr.svg(content),
            "qr_png_url": f"{gw.settings.issuer}/v1/presentation-requests/{req.id}/qr.png",
        }

    return await idem.run(principal.partner.id, produce)  # issue 13: Idempotency-Key


@router.get(
    "/v1/presentation-requests/{request_id}",
    summary="Poll a presentation request: pending, verified (with the disclosed claims), declined or expired",
    responses=PROBLEMS(401, 403, 404, 503),
)
async def poll(request_id: Annotated[str, _ID], gw: GatewayDep, principal: ExchangePartnerDep) -> JSONResponse:
    out = await run_in_threadpool(presentations.poll_request, gw, principal, request_id)
    return JSONResponse(out, headers=_NO_STORE)


@router.get(
    "/v1/presentation-requests/{request_id}/qr.png",
    summary="The request's QR code as PNG",
    responses=PROBLEMS(401, 403, 404, 503),
)
async def qr_png(request_id: Annotated[str, _ID], gw: GatewayDep, principal: ExchangePartnerDep) -> Response:
    view = await run_in_threadpool(presentations.poll_request, gw, principal, request_id)
    req = presentations.PresentationRequest(
        request_id, principal.partner.id, view["purpose"], view["claims"], view["programme_id"], "", view["expires_at"]
    )
    return Response(qr.png(presentations.qr_content(gw, req)), media_type="image/png", headers=_NO_STORE)


@router.get(
    "/v1/presentation-requests/{request_id}/request",
    summary="The request as the wallet reads it after scanning (public: it names no person)",
    responses=PROBLEMS(404, 409, 410, 503),
)
async def wallet_request(request_id: Annotated[str, _ID], gw: GatewayDep) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(presentations.wallet_view, gw, request_id), headers=_NO_STORE)


@router.post(
    "/v1/presentation-requests/{request_id}/response",
    summary='The wallet posts its presentation (`{"vp_token": …}`) or declines; accepted once',
    description=(
        "The SD-JWT VC with exactly the requested disclosures and a KB-JWT (`aud` = the verifier's id, "
        "`nonce` = the request's). Every failed check is its own problem type; disclosures the request "
        "did not ask for are refused (403 `disclosure_not_requested`). "
        '`{"error": "access_denied"}` instead declines: the verifier\'s poll then says `declined`.'
    ),
    responses=PROBLEMS(400, 401, 403, 404, 409, 410, 503),
)
async def wallet_response(request_id: Annotated[str, _ID], body: PresentationIn, gw: GatewayDep) -> JSONResponse:
    if body.vp_token is None:
        out = await run_in_threadpool(presentations.decline_request, gw, request_id)
    else:
        out = await run_in_threadpool(presentations.answer_request, gw, request_id, body.vp_token)
    return JSONResponse(out, headers=_NO_STORE)


@router.get(
    "/v1/me/presentations",
    tags=["residents"],
    summary="Every online presentation of my credit code, newest first",
    responses=PROBLEMS(401, 503),
)
async def mine(gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(presentations.presentations_of, gw, resident)
