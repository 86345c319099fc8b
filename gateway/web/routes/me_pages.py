"""The residents' pages ``/me``: sign in, the score with its breakdown and history, consents, and
objections with evidence (measure 三(二): residents query and authorise through the designated
channels — an app's web view, WeChat, a kiosk).

Mobile first (375 px). Kiosk mode (large text) ends the session after ``GATEWAY_KIOSK_IDLE_SECONDS``
without a request, on the server, and the page's script signs out after the same idle time on the
screen. The ID number travels only in the sign-in form's POST body: never in a URL, a cookie, a log
line or the session row (which keeps the keyed hashes the API keeps).

The scoring authorisation, partners' consent requests, the credit report and the credit code are in
``me_self_service``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from gateway.errors import GatewayError, PayloadTooLarge
from gateway.services.residents import consents, me
from gateway.services.rights import evidence, objections
from gateway.services.web.resident_oidc import RESIDENT_CALLBACK_PATH, ResidentSignIn
from gateway.services.web.resident_pages import (
    consent_audiences,
    dev_sign_in,
    history_points,
    resident_from_profile,
    resident_profile,
)
from gateway.services.web.sessions import WebSession, end_session, start_session
from gateway.web.charts import line_chart
from gateway.web.errors import SAFE_NEXT
from gateway.web.i18n import translate
from gateway.web.sessions import (
    KIOSK_COOKIE,
    RESIDENT_COOKIE,
    clear_cookie,
    csrf_form,
    gateway_of,
    resident_session,
    set_cookie,
)
from gateway.web.templating import language, render

router = APIRouter(prefix="/me", include_in_schema=False)

_LOGIN_COOKIE = "sx_me_login"
_DONE = {"granted": "me.granted", "withdrawn": "me.withdrawn_ok", "filed": "me.filed"}
ConsentId = Annotated[str, Path(min_length=1, max_length=64)]


def _context(request: Request, session: WebSession | None, **extra: Any) -> dict[str, Any]:
    gw = gateway_of(request)
    kiosk = request.cookies.get(KIOSK_COOKIE) == "1"
    done = request.query_params.get("done")
    return {
        "resident": session,
        "csrf": session.csrf_token if session else "",
        "kiosk": kiosk,
        "kiosk_idle": gw.settings.kiosk_idle_seconds,
        "flash": translate(language(request), _DONE[done]) if done in _DONE else None,
        **extra,
    }


def _next(path: str | None) -> str:
    """Where a sign-in returns: only a page of ours (never another origin: no open redirect)."""
    return path if path and SAFE_NEXT.fullmatch(path) else ""


def _resident(session: WebSession) -> Any:
    return resident_from_profile(session.subject, session.profile)


# --- sign-in ----------------------------------------------------------------------------------


def resident_sign_in_service(request: Request) -> ResidentSignIn:
    """One per application (the IdP's metadata is cached); tests may put one with a mock transport."""
    service: ResidentSignIn | None = getattr(request.app.state, "resident_sign_in", None)
    if service is None:
        service = ResidentSignIn(gateway_of(request).settings)
        request.app.state.resident_sign_in = service
    return service


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    gw = gateway_of(request)
    state = secrets.token_urlsafe(24)
    dev = gw.settings.dev_idp_enabled
    configured = resident_sign_in_service(request).configured
    context = _context(request, None, login_state=state, dev=dev, idp_configured=configured)
    context["next"] = _next(request.query_params.get("next"))
    # Production without the resident IdP's client: say so plainly (503), never a 500.
    response = render(request, "me/sign_in.html", context, status_code=200 if dev or configured else 503)
    set_cookie(request, response, _LOGIN_COOKIE, state, max_age=600)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    gw = gateway_of(request)
    form = await request.form()
    presented, expected = str(form.get("login_state") or ""), request.cookies.get(_LOGIN_COOKIE) or ""
    back = _next(str(form.get("next") or ""))
    # Before a session exists the form's CSRF token is a double-submit of the sign-in cookie.
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        return render(
            request,
            "me/sign_in.html",
            _context(
                request, None, login_state=expected, dev=gw.settings.dev_idp_enabled, error="csrf_rejected", next=back
            ),
            status_code=403,
        )
    try:
        resident = await run_in_threadpool(
            dev_sign_in, gw, str(form.get("id_number") or "")[:32], str(form.get("name") or "")[:64]
        )
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        # The number is not put back into the form, nor into the message.
        return render(
            request,
            "me/sign_in.html",
            _context(request, None, login_state=expected, dev=gw.settings.dev_idp_enabled, error=exc.detail, next=back),
            status_code=exc.status if exc.status != 401 else 422,
        )
    token = await run_in_threadpool(
        lambda: start_session(gw, "resident", resident.id_hash, profile=resident_profile(resident))
    )
    response = RedirectResponse(back or "/me", status_code=303)
    set_cookie(request, response, RESIDENT_COOKIE, token, max_age=gw.settings.session_absolute_seconds)
    clear_cookie(request, response, _LOGIN_COOKIE)
    if form.get("kiosk") == "1":
        set_cookie(request, response, KIOSK_COOKIE, "1", max_age=gw.settings.session_absolute_seconds)
    else:
        clear_cookie(request, response, KIOSK_COOKIE)
    return response


@router.get("/sign-in/start")
async def sign_in_start(
    request: Request,
    next: Annotated[str | None, Query(max_length=256)] = None,
    kiosk: Annotated[str | None, Query(max_length=1)] = None,
) -> Response:
    """Production: go to the real-name IdP (authorization code + PKCE); ``next`` is kept server-side."""
    gw = gateway_of(request)
    url = await resident_sign_in_service(request).begin(gw, str(request.base_url), _next(next) or "/me")
    response = RedirectResponse(url, status_code=303)
    if kiosk == "1":
        set_cookie(request, response, KIOSK_COOKIE, "1", max_age=gw.settings.session_absolute_seconds)
    else:
        clear_cookie(request, response, KIOSK_COOKIE)
    return response


@router.get(RESIDENT_CALLBACK_PATH.removeprefix("/me"))
async def sign_in_callback(
    request: Request,
    code: Annotated[str, Query(max_length=4096)] = "",
    state: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """The IdP's redirect: only the code and state are in this URL, never the ID number."""
    gw = gateway_of(request)
    resident, return_to = await resident_sign_in_service(request).complete(
        gw, str(request.base_url), state=state, code=code
    )
    token = await run_in_threadpool(
        lambda: start_session(gw, "resident", resident.id_hash, profile=resident_profile(resident))
    )
    response = RedirectResponse(_next(return_to) or "/me", status_code=303)
    set_cookie(request, response, RESIDENT_COOKIE, token, max_age=gw.settings.session_absolute_seconds)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    gw = gateway_of(request)
    response = RedirectResponse("/me/sign-in", status_code=303)
    # The browser forgets the credit code it held for this resident (its key and credential in
    # IndexedDB): whoever uses this browser next cannot present it. A phone obtains it again in a tap.
    response.headers["Clear-Site-Data"] = '"storage"'
    try:
        session = await resident_session(request)
    except GatewayError:
        clear_cookie(request, response, RESIDENT_COOKIE)
        return response  # already ended (the kiosk's timer may fire after the server's timeout)
    await csrf_form(request, session)
    await run_in_threadpool(end_session, gw, session)
    clear_cookie(request, response, RESIDENT_COOKIE)
    return response


# --- score ------------------------------------------------------------------------------------


@router.get("")
async def score(request: Request) -> Response:
    session = await resident_session(request)
    gw = gateway_of(request)
    resident = _resident(session)
    try:
        view: dict[str, Any] | None = await run_in_threadpool(me.my_score, gw, resident)
    except me.PersonUnknown:
        view = None
    points = await run_in_threadpool(history_points, gw, resident)
    chart = line_chart(translate(language(request), "me.history"), points) if points else None
    return render(request, "me/score.html", _context(request, session, score=view, chart=chart, points=points))


# --- consents ---------------------------------------------------------------------------------


async def _consents_page(
    request: Request, session: WebSession, *, error: str | None = None, status: int = 200
) -> Response:
    gw = gateway_of(request)
    items = await run_in_threadpool(consents.list_consents, gw, _resident(session))
    audiences = consent_audiences(gw)
    purposes = sorted({p for a in audiences for p in a["purposes"]})
    context = _context(request, session, consents=items, audiences=audiences, purposes=purposes)
    context["error"] = error
    return render(request, "me/consents.html", context, status_code=status)


@router.get("/consents")
async def consent_list(request: Request) -> Response:
    return await _consents_page(request, await resident_session(request))


@router.post("/consents")
async def grant(request: Request) -> Response:
    session = await resident_session(request)
    fields = await csrf_form(request, session)
    form = await request.form()
    gw = gateway_of(request)
    purposes = [str(p) for p in form.getlist("purposes")][:10]
    try:
        days = int(fields.get("valid_days") or 180)
    except ValueError:
        days = 0
    channel = "kiosk" if request.cookies.get(KIOSK_COOKIE) == "1" else "app"
    try:
        await run_in_threadpool(
            lambda: consents.grant_consent(
                gw,
                _resident(session),
                audience=fields.get("audience", ""),
                purposes=purposes,
                valid_days=days,
                channel=channel,
            )
        )
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        return await _consents_page(request, session, error=exc.detail, status=exc.status)
    return RedirectResponse("/me/consents?done=granted", status_code=303)


@router.post("/consents/{consent_id}/withdraw")
async def withdraw(request: Request, consent_id: ConsentId) -> Response:
    session = await resident_session(request)
    await csrf_form(request, session)
    await run_in_threadpool(consents.revoke_consent, gateway_of(request), _resident(session), consent_id)
    return RedirectResponse("/me/consents?done=withdrawn", status_code=303)


# --- objections -------------------------------------------------------------------------------


async def _objections_page(
    request: Request, session: WebSession, *, error: str | None = None, status: int = 200
) -> Response:
    gw = gateway_of(request)
    resident = _resident(session)
    items = await run_in_threadpool(objections.my_objections, gw, resident)
    targets: list[dict[str, str]] = []
    try:
        view = await run_in_threadpool(me.my_score, gw, resident)
    except me.PersonUnknown:
        view = {}
    if view.get("status") == "scored":
        targets.append({"ref": "score", "label": f"{view['score']}"})
        for entry in view.get("breakdown", []):
            for record in entry["records"]:
                if "ref" in record:
                    item = record.get("item") or {}
                    label = f"{entry['indicator']} · {item.get('code', '')} · {record.get('occurred_at', '')}"
                    targets.append({"ref": record["ref"], "label": label})
    context = _context(request, session, objections=items, targets=targets, types=gw.settings.evidence_types)
    context["error"] = error
    return render(request, "me/objections.html", context, status_code=status)


@router.get("/objections")
async def objection_list(request: Request) -> Response:
    return await _objections_page(request, await resident_session(request))


async def _store_upload(request: Request, upload: UploadFile, owner: str) -> str:
    """One evidence file, checked as ``POST /v1/me/evidence`` checks it: type, size, content."""
    gw = gateway_of(request)
    evidence.accepted_media_type(gw.settings, upload.content_type)
    limit = gw.settings.evidence_max_bytes
    body = await upload.read(limit + 1)
    if len(body) > limit:
        raise evidence.EvidenceTooLarge(f"An evidence file holds at most {limit} bytes.", max_bytes=limit)
    stored = await run_in_threadpool(lambda: evidence.store_evidence(gw, body, upload.content_type, owner=owner))
    return stored.sha256


@router.post("/objections")
async def file_objection(request: Request) -> Response:
    session = await resident_session(request)
    gw = gateway_of(request)
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > 3 * gw.settings.evidence_max_bytes + 65536:
        raise PayloadTooLarge("The form is larger than three evidence files.")
    form = await request.form(max_files=3, max_fields=20)
    fields = await csrf_form(request, session)
    resident = _resident(session)
    try:
        hashes = [
            await _store_upload(request, f, resident.id_hash)
            for f in form.getlist("evidence")
            if isinstance(f, UploadFile) and f.filename
        ]
        await run_in_threadpool(
            lambda: objections.file_objection(
                gw, resident, target=fields.get("target", ""), statement=fields.get("statement", ""), evidence=hashes
            )
        )
    except GatewayError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        return await _objections_page(request, session, error=exc.detail, status=exc.status)
    return RedirectResponse("/me/objections?done=filed", status_code=303)
