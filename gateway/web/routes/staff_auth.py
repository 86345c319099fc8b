"""Staff sign-in and sign-out pages, and the development staff identity provider's endpoints.

``/console/sign-in`` starts the OIDC authorization code flow (:mod:`gateway.services.web.staff_oidc`),
``/console/auth/callback`` finishes it into a server-side session, ``/console/sign-out`` (a POST
with the CSRF token) ends it. ``/dev-idp/staff/*`` exists in development mode only: 404 otherwise.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from gateway.errors import GatewayError, NotFound, ValidationFailed
from gateway.services.admin.admins import ROLES
from gateway.services.web.dev_staff_idp import DevStaffIdentityProvider
from gateway.services.web.sessions import check_csrf, end_session, start_session
from gateway.services.web.staff_oidc import CALLBACK_PATH, StaffSignIn
from gateway.web.sessions import STAFF_COOKIE, clear_cookie, gateway_of, set_cookie, staff_session
from gateway.web.templating import render

router = APIRouter(include_in_schema=False)


def sign_in_service(request: Request) -> StaffSignIn:
    """One per application; the development IdP's token endpoint is reached through this very app."""
    service: StaffSignIn | None = getattr(request.app.state, "staff_sign_in", None)
    if service is None:
        settings = gateway_of(request).settings
        transport = httpx.ASGITransport(app=request.app) if settings.dev_staff_idp_enabled else None
        service = StaffSignIn(settings, transport=transport)
        request.app.state.staff_sign_in = service
    return service


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _return_to(raw: str | None) -> str:
    # Only a path inside the console: never an open redirect.
    if raw and raw.startswith("/console") and "//" not in raw and "\\" not in raw:
        return raw[:256]
    return "/console"


@router.get("/console/sign-in")
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=256)] = None) -> Response:
    service = sign_in_service(request)
    return render(request, "console/sign_in.html", {"next": _return_to(next), "development": service.development})


@router.get("/console/sign-in/start")
async def sign_in_start(request: Request, next: Annotated[str | None, Query(max_length=256)] = None) -> Response:
    url = await sign_in_service(request).begin(gateway_of(request), _base(request), _return_to(next))
    return RedirectResponse(url, status_code=303)


@router.get(CALLBACK_PATH)
async def callback(
    request: Request,
    code: Annotated[str, Query(max_length=4096)] = "",
    state: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    gw = gateway_of(request)
    identity, return_to = await sign_in_service(request).complete(gw, _base(request), state=state, code=code)
    token = await run_in_threadpool(
        start_session,
        gw,
        "staff",
        identity.subject,
        roles=identity.roles,
        profile={"display_name": identity.display_name},
    )
    response = RedirectResponse(return_to, status_code=303)
    set_cookie(request, response, STAFF_COOKIE, token, max_age=gw.settings.session_absolute_seconds)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    gw = gateway_of(request)
    session = await staff_session(request)
    form = await request.form()
    check_csrf(session, str(form.get("csrf_token") or ""))
    await run_in_threadpool(end_session, gw, session)
    response = RedirectResponse("/console/sign-in", status_code=303)
    clear_cookie(request, response, STAFF_COOKIE)
    return response


# --- the development staff identity provider -------------------------------------------------


def _dev_idp(request: Request) -> DevStaffIdentityProvider:
    dev = sign_in_service(request).dev_idp
    if dev is None:
        raise NotFound("There is no development staff identity provider here.")
    return dev


def _check_redirect(request: Request, redirect_uri: str) -> None:
    # The provider redirects only to this gateway's own callback: never an open redirect.
    expected = urlsplit(_base(request) + CALLBACK_PATH)
    got = urlsplit(redirect_uri)
    if (got.scheme, got.netloc, got.path) != (expected.scheme, expected.netloc, expected.path) or got.query:
        raise ValidationFailed("The redirect URI is not the console's callback.")


@router.get("/dev-idp/staff/authorize")
async def dev_authorize_page(request: Request) -> Response:
    _dev_idp(request)
    params = {k: request.query_params.get(k, "")[:256] for k in _AUTH_PARAMS}
    _check_redirect(request, params["redirect_uri"])
    if params["response_type"] != "code":
        raise ValidationFailed("Only the authorization code flow is offered.")
    return render(request, "console/dev_idp.html", {"params": params, "roles": sorted(ROLES)})


_AUTH_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


@router.post("/dev-idp/staff/authorize")
async def dev_authorize(request: Request) -> Response:
    dev = _dev_idp(request)
    form = await request.form()
    params = {k: str(form.get(k) or "")[:256] for k in (*_AUTH_PARAMS, "name")}
    _check_redirect(request, params["redirect_uri"])
    code = dev.authorization_code(
        name=params["name"],
        roles=[str(r) for r in form.getlist("roles")],
        client_id=params["client_id"],
        redirect_uri=params["redirect_uri"],
        nonce=params["nonce"],
        code_challenge=params["code_challenge"],
        code_challenge_method=params["code_challenge_method"],
    )
    target = params["redirect_uri"] + "?" + urlencode({"code": code, "state": params["state"]})
    return RedirectResponse(target, status_code=303)


def _basic(header: str | None) -> tuple[str, str]:
    if not header or not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


@router.post("/dev-idp/staff/token")
async def dev_token(
    request: Request,
    grant_type: Annotated[str, Form()] = "",
    code: Annotated[str, Form(max_length=4096)] = "",
    redirect_uri: Annotated[str, Form(max_length=512)] = "",
    code_verifier: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    dev = _dev_idp(request)
    client_id, secret = _basic(request.headers.get("authorization"))
    if grant_type != "authorization_code":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    try:
        body = dev.token(
            code=code, client_id=client_id, client_secret=secret, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
    except GatewayError as exc:
        return JSONResponse({"error": exc.extensions.get("reason", "invalid_grant")}, status_code=400)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
