"""The residents' pages that act for the resident (measure 一(一), 三(二); PIPL Art. 17, 23, 45):
the scoring authorisation with its notice, a partner's consent request, the credit report and its
signed export, and the credit code.

Thin over the services the JSON API calls (``gateway.services.residents``,
``gateway.services.credential``): the same transactions, the same refusals. The channel recorded
with a grant or an answer is ``kiosk`` in kiosk mode and ``app`` otherwise; the notice recorded is
the one the page showed (its id and version travel in the form and are checked again by the
service).

The credit code page makes the browser a holder: its script (``credit_code.js``) creates a
non-extractable ECDSA P-256 key with WebCrypto — kept per device in IndexedDB, or only in the page's
memory in kiosk mode — obtains and renews the credential at the same OpenID4VCI endpoints as an app
(the key proof is signed in the browser; the session cookie with its CSRF token stands in for the
ID token), shows the offline QR code, and answers a presentation request with only the asked
disclosures and a KB-JWT it signs. The gateway never sees the private key. The page also keeps the
OpenID4VCI offer QR code for an app, and lists every online presentation answered.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from gateway.errors import GatewayError
from gateway.services.credential import presentations, qr
from gateway.services.credential.metadata import CONFIGURATION_ID, LEVELS, claim_labels
from gateway.services.residents import authorisation, callbacks, consent_requests, lookups, report
from gateway.services.residents.me import PersonUnknown
from gateway.services.residents.notices import DISCLOSURE_NOTICE, SCORING_NOTICE, latest
from gateway.services.web.sessions import WebSession, check_csrf
from gateway.web.i18n import translate
from gateway.web.routes.me_pages import _context, _resident
from gateway.web.sessions import KIOSK_COOKIE, csrf_form, gateway_of, resident_session
from gateway.web.templating import language, render

router = APIRouter(prefix="/me", include_in_schema=False)

RequestId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^crq_[A-Za-z0-9_-]+$")]
_HOLDER_SLOT_AUDIENCE = "web-holder-slot"
_VERIFIER_KINDS = ("incentive_provider", "city_platform", "financial_institution")
_DONE = {
    "authorised": "me.authorised_ok",
    "auth_withdrawn": "me.auth_withdrawn_ok",
    "approved": "me.approved_ok",
    "declined": "me.declined_ok",
    "statement_added": "me.statement_added",
}


def _channel(request: Request) -> str:
    return "kiosk" if request.cookies.get(KIOSK_COOKIE) == "1" else "app"


def _page(request: Request, session: WebSession, **extra: Any) -> dict[str, Any]:
    context = _context(request, session, **extra)
    done = request.query_params.get("done")
    if done in _DONE:
        context["flash"] = translate(language(request), _DONE[done])
    return context


def _shown(exc: GatewayError) -> bool:
    """A refusal the page shows in place (the rest go to the shared error handling)."""
    return exc.status < 500 and exc.status not in (401, 403)


# --- the scoring authorisation ----------------------------------------------------------------


async def _authorisation_page(
    request: Request, session: WebSession, *, error: str | None = None, status: int = 200
) -> Response:
    gw = gateway_of(request)
    view = await run_in_threadpool(authorisation.authorisation_view, gw, _resident(session))
    context = _page(request, session, auth=view, notice=latest(SCORING_NOTICE))
    context["error"] = error
    return render(request, "me/authorisation.html", context, status_code=status)


@router.get("/authorisation")
async def authorisation_page(request: Request) -> Response:
    return await _authorisation_page(request, await resident_session(request))


@router.post("/authorisation")
async def authorise(request: Request) -> Response:
    session = await resident_session(request)
    fields = await csrf_form(request, session)
    gw = gateway_of(request)
    try:
        await run_in_threadpool(
            lambda: authorisation.grant_authorisation(
                gw,
                _resident(session),
                channel=_channel(request),
                notice_id=fields.get("notice_id") or None,
                notice_version=fields.get("notice_version") or None,
            )
        )
    except GatewayError as exc:
        if not _shown(exc):
            raise
        return await _authorisation_page(request, session, error=exc.detail, status=exc.status)
    return RedirectResponse("/me/authorisation?done=authorised", status_code=303)


@router.post("/authorisation/withdraw")
async def withdraw_authorisation(request: Request) -> Response:
    session = await resident_session(request)
    await csrf_form(request, session)
    gw = gateway_of(request)
    try:
        await run_in_threadpool(
            lambda: authorisation.withdraw_authorisation(gw, _resident(session), channel=_channel(request))
        )
    except GatewayError as exc:
        if not _shown(exc):
            raise
        return await _authorisation_page(request, session, error=exc.detail, status=exc.status)
    return RedirectResponse("/me/authorisation?done=auth_withdrawn", status_code=303)


# --- a partner's consent request --------------------------------------------------------------


async def _request_page(
    request: Request, session: WebSession, request_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    gw = gateway_of(request)
    view = await run_in_threadpool(consent_requests.resident_view, gw, _resident(session), request_id)
    context = _page(request, session, req=view, notice=latest(DISCLOSURE_NOTICE))
    context["error"] = error
    return render(request, "me/consent_request.html", context, status_code=status)


@router.get("/consent-requests/{request_id}")
async def consent_request_page(request: Request, request_id: RequestId) -> Response:
    return await _request_page(request, await resident_session(request), request_id)


@router.post("/consent-requests/{request_id}/{answer}")
async def answer_consent_request(request: Request, request_id: RequestId, answer: str) -> Response:
    session = await resident_session(request)
    fields = await csrf_form(request, session)
    if answer not in ("approve", "decline"):
        return await _request_page(request, session, request_id, status=404)
    gw = gateway_of(request)
    try:
        _, row = await run_in_threadpool(
            lambda: consent_requests.answer_request(
                gw,
                _resident(session),
                request_id,
                approve=answer == "approve",
                channel=_channel(request),
                notice_id=fields.get("notice_id") or None,
                notice_version=fields.get("notice_version") or None,
            )
        )
    except GatewayError as exc:
        if not _shown(exc):
            raise
        return await _request_page(request, session, request_id, error=exc.detail, status=exc.status)
    done = "approved" if answer == "approve" else "declined"
    # The partner's callback goes after the response, as from the API: the resident never waits.
    transport = getattr(request.app.state, "callback_transport", None)
    task = BackgroundTask(callbacks.deliver_result, gw, row, transport=transport) if row.callback_uri else None
    return RedirectResponse(f"/me/consent-requests/{request_id}?done={done}", status_code=303, background=task)


# --- the credit report ------------------------------------------------------------------------


async def _report_page(
    request: Request, session: WebSession, *, error: str | None = None, status: int = 200
) -> Response:
    gw = gateway_of(request)
    try:
        view: dict[str, Any] | None = await run_in_threadpool(report.credit_report, gw, _resident(session))
    except PersonUnknown:
        view = None
    context = _page(request, session, report=view, statement_max=lookups.MAX_STATEMENT_CHARS)
    context["error"] = error
    return render(request, "me/report.html", context, status_code=status)


@router.get("/report")
async def report_page(request: Request) -> Response:
    return await _report_page(request, await resident_session(request))


@router.post("/statements")
async def add_statement(request: Request) -> Response:
    """A personal statement (本人声明) on one of the resident's records, as ``POST /v1/me/statements``."""
    session = await resident_session(request)
    fields = await csrf_form(request, session)
    gw = gateway_of(request)
    try:
        await run_in_threadpool(
            lambda: lookups.add_statement(
                gw, _resident(session), record=fields.get("record", "")[:24], statement=fields.get("statement", "")
            )
        )
    except GatewayError as exc:
        if not _shown(exc):
            raise
        return await _report_page(request, session, error=exc.detail, status=exc.status)
    return RedirectResponse("/me/report?done=statement_added", status_code=303)


@router.get("/report/export")
async def report_export(request: Request) -> Response:
    session = await resident_session(request)
    signed = await run_in_threadpool(report.export_report, gateway_of(request), _resident(session))
    headers = {"Content-Disposition": 'attachment; filename="credit-report.json"'}
    return JSONResponse(signed, headers=headers)


# --- the credit code --------------------------------------------------------------------------


def credential_offer(issuer: str) -> str:
    """An OpenID4VCI 1.0 credential offer (by value) for the credit code: the resident's app scans
    it, signs the resident in and asks ``/v1/credentials`` with its own holder key."""
    offer = {"credential_issuer": issuer, "credential_configuration_ids": [CONFIGURATION_ID]}
    return "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer, separators=(",", ":")))


@router.get("/credit-code")
async def credit_code_page(request: Request) -> Response:
    session = await resident_session(request)
    gw = gateway_of(request)
    resident = _resident(session)
    auth = await run_in_threadpool(authorisation.authorisation_view, gw, resident)
    shown = await run_in_threadpool(presentations.presentations_of, gw, resident)
    offer = credential_offer(gw.settings.issuer)
    eligible = auth["status"] == "granted" and auth["score"]["status"] == "scored"
    svg = qr.svg(offer, fluid=True)
    context = _page(
        request,
        session,
        auth=auth,
        eligible=eligible,
        offer_svg=svg,
        presentations=shown,
        issuer=gw.settings.issuer,
        # Which IndexedDB record is this resident's on a shared browser: a pairwise value, not the hash.
        holder_slot=gw.hasher.pairwise_subject(session.subject, _HOLDER_SLOT_AUDIENCE),
        verifier_kinds=_VERIFIER_KINDS,
        offline_claims=[f"level_at_least.{lvl}" for lvl in LEVELS[:-1]] + ["regional_tier", "tier"],
        claim_labels=claim_labels(language(request)),
    )
    return render(request, "me/credit_code.html", context)


class OfflineCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presentation: str = Field(min_length=1, max_length=16384)


@router.post("/credit-code/qr")
async def offline_code(request: Request, body: OfflineCodeIn) -> Response:
    """The QR code of a presentation the page's script signed: the compact form the counters scan,
    drawn by the same segno code as the CLI's (see README design notes)."""
    session = await resident_session(request)
    check_csrf(session, request.headers.get("x-csrf-token"))
    drawn = await run_in_threadpool(qr.offline_code, body.presentation)
    return JSONResponse(drawn, headers={"Cache-Control": "no-store"})
