"""Partner-initiated consent requests: the partner asks (and polls), the resident answers.

The partner's calls need its access token; the resident's need the real-name ID token. The QR
codes and the landing page carry nothing but the request's link (the id is unguessable).
"""

from __future__ import annotations

import html
import io
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ExchangePartnerDep, GatewayDep, ResidentDep
from gateway.api.idempotency import IdempotencyDep
from gateway.api.schemas import PROBLEMS
from gateway.services.context import Gateway
from gateway.services.residents import callbacks
from gateway.services.residents import consent_requests as service

router = APIRouter(tags=["consent requests"])

_ID = Path(min_length=8, max_length=64, pattern=r"^crq_[A-Za-z0-9_-]+$", description="The request id (`crq_…`).")
RequestId = Annotated[str, _ID]


class ConsentRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: str = Field(min_length=1, max_length=32, description="One of the partner's allowed purposes.")
    disclosure: Literal["tier", "score"] = "tier"
    valid_days: int = Field(30, ge=1, le=365, description="How long the consent would last (at most a year).")
    programme_id: str | None = Field(None, max_length=64, description="The incentive programme, if any.")
    callback_uri: str | None = Field(
        None, max_length=512, description="Must equal a URI registered in the partner's file (https)."
    )
    state: str | None = Field(None, max_length=256, description="Opaque; returned with the answer.")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["app", "wechat", "kiosk"] = "app"
    notice_id: str | None = Field(None, max_length=64)
    notice_version: str | None = Field(None, max_length=16)


@router.post(
    "/v1/consent-requests",
    status_code=201,
    summary="Ask a resident for consent (no ID number needed)",
    description=(
        "Answers a `request_id`, an `expires_at` at most 10 minutes ahead, `links.web` (the page the resident "
        "opens) and `links.qr` (the same link as a QR code, SVG and PNG). Poll `GET /v1/consent-requests/{id}` "
        "or register a callback, which receives a signed `consent-request-result+jwt`."
    ),
    responses=PROBLEMS(401, 403, 422, 503),
)
async def create(body: ConsentRequestIn, gw: GatewayDep, partner: ExchangePartnerDep, idem: IdempotencyDep) -> Any:
    async def produce() -> Any:
        return await run_in_threadpool(
            lambda: service.create_request(
                gw,
                partner,
                purpose=body.purpose,
                disclosure=body.disclosure,
                valid_days=body.valid_days,
                programme_id=body.programme_id,
                callback_uri=body.callback_uri,
                state=body.state,
            )
        )

    return await idem.run(partner.partner.id, produce)  # issue 13: Idempotency-Key


@router.get(
    "/v1/consent-requests/{request_id}",
    summary="Poll a consent request (the assertion comes with an approval)",
    description="Another partner's request is not found.",
    responses=PROBLEMS(401, 403, 404, 503),
)
async def poll(request_id: RequestId, gw: GatewayDep, partner: ExchangePartnerDep) -> Any:
    return await run_in_threadpool(service.partner_view, gw, partner, request_id)


async def _existing(gw: Gateway, request_id: str) -> str:
    await run_in_threadpool(service.request_exists, gw, request_id)
    return f"{gw.settings.issuer}/consent-requests/{request_id}"


_LEVELS = {"tier": ("诚信等级", "the integrity tier only"), "score": ("诚信分及等级", "the score and the tier")}


@router.get(
    "/v1/consent-requests/{request_id}/qr.svg",
    summary="The request's link as a QR code (SVG)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **PROBLEMS(404)},
)
async def qr_svg(request_id: RequestId, gw: GatewayDep) -> Response:
    buffer = io.BytesIO()
    segno.make(await _existing(gw, request_id), error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
    return Response(buffer.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.get(
    "/v1/consent-requests/{request_id}/qr.png",
    summary="The request's link as a QR code (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **PROBLEMS(404)},
)
async def qr_png(request_id: RequestId, gw: GatewayDep) -> Response:
    buffer = io.BytesIO()
    segno.make(await _existing(gw, request_id), error="m").save(buffer, kind="png", scale=6)
    return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get(
    "/consent-requests/{request_id}",
    summary="The page a resident opens from the link or QR code",
    response_class=HTMLResponse,
    responses=PROBLEMS(404),
)
async def landing(request_id: RequestId, gw: GatewayDep) -> HTMLResponse:
    summary = await run_in_threadpool(service.request_exists, gw, request_id)
    name = summary["partner_name"] or {"zh": "（未知机构）", "en": "(unknown partner)"}
    level_zh, level_en = _LEVELS.get(summary["disclosure"], ("", ""))
    esc = html.escape
    # No script, no form, no third-party content: the answer is given in the app, WeChat or a kiosk,
    # signed in with the real-name identity provider (POST /v1/me/consent-requests/{id}/approve), or on
    # the residents' page /me/consent-requests/{id}, which asks for sign-in first and then opens it.
    body = (
        "<!doctype html><html lang=zh><meta charset=utf-8><title>授权请求 Consent request</title>"
        "<h1>个人诚信分授权请求 / Integrity-score consent request</h1>"
        f"<p><strong>{esc(name['zh'])}</strong> 请求查看您的{esc(level_zh)}，用途：{esc(summary['purpose'])}，"
        f"有效期 {int(summary['valid_days'])} 天。状态：{esc(summary['status'])}</p>"
        f"<p><strong>{esc(name['en'])}</strong> asks for {esc(level_en)}, purpose {esc(summary['purpose'])}, "
        f"for {int(summary['valid_days'])} days. Status: {esc(summary['status'])}</p>"
        "<p>请在“绍兴信用”应用、微信或自助终端实名登录后查看并确认此请求。</p>"
        "<p>Open this request in the app, WeChat or a kiosk after real-name sign-in to read and answer it.</p>"
        f'<p><a href="/me/consent-requests/{html.escape(request_id)}">'
        "登录后查看并答复 / Sign in to read and answer</a></p>"
        f"<p><code>{html.escape(request_id)}</code></p></html>"
    )
    csp = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    headers = {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    return HTMLResponse(body, headers=headers)


@router.get(
    "/v1/me/consent-requests/{request_id}",
    tags=["residents"],
    summary="Read a partner's consent request before answering",
    description="The partner's names and contact, purpose, level, duration, programme and the disclosure notice.",
    responses=PROBLEMS(401, 404, 503),
)
async def show(request_id: RequestId, gw: GatewayDep, resident: ResidentDep) -> Any:
    return await run_in_threadpool(service.resident_view, gw, resident, request_id)


def _answer(approve: bool) -> Any:
    async def answer(
        request_id: RequestId,
        body: AnswerIn,
        gw: GatewayDep,
        resident: ResidentDep,
        request: Request,
        tasks: BackgroundTasks,
    ) -> Any:
        view, row = await run_in_threadpool(
            lambda: service.answer_request(
                gw,
                resident,
                request_id,
                approve=approve,
                channel=body.channel,
                notice_id=body.notice_id,
                notice_version=body.notice_version,
            )
        )
        if row.callback_uri:
            # After the response: the resident never waits for the partner's server.
            transport = getattr(request.app.state, "callback_transport", None)
            tasks.add_task(callbacks.deliver_result, gw, row, transport=transport)
        return view

    return answer


router.add_api_route(
    "/v1/me/consent-requests/{request_id}/approve",
    _answer(True),
    methods=["POST"],
    tags=["residents"],
    summary="Approve: the consent is created and the assertion issued to the partner at once",
    description="One request is answered once, by one resident, before it expires.",
    responses=PROBLEMS(401, 403, 404, 409, 410, 422, 503),
)
router.add_api_route(
    "/v1/me/consent-requests/{request_id}/decline",
    _answer(False),
    methods=["POST"],
    tags=["residents"],
    summary="Decline a partner's consent request",
    responses=PROBLEMS(401, 404, 409, 410, 422, 503),
)
