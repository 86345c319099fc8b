"""The pages' side of sessions: cookies, the signed-in person, CSRF on forms, the role menu.

Cookies are ``HttpOnly`` and ``SameSite=Lax`` always, and ``Secure`` always except on a loopback
address in development mode (the browser tests and a developer's laptop run plain HTTP there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.errors import PermissionDenied
from gateway.services.admin.admins import AdminPrincipal
from gateway.services.context import Gateway
from gateway.services.web.sessions import Kind, WebSession, check_csrf, load_session

__all__ = [
    "RESIDENT_COOKIE",
    "STAFF_COOKIE",
    "MenuItem",
    "clear_cookie",
    "csrf_form",
    "gateway_of",
    "menu_for",
    "resident_session",
    "set_cookie",
    "staff_session",
]

STAFF_COOKIE: Final = "sx_console"
RESIDENT_COOKIE: Final = "sx_me"
KIOSK_COOKIE: Final = "sx_kiosk"
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass(frozen=True, slots=True)
class MenuItem:
    key: str
    href: str
    roles: frozenset[str]


MENU: Final = (
    MenuItem("nav.dashboard", "/console", frozenset({"mapping_admin", "partner_admin", "credit_officer", "auditor"})),
    MenuItem("nav.crosswalks", "/console/crosswalks", frozenset({"mapping_admin", "auditor"})),
    MenuItem("nav.objections", "/console/objections", frozenset({"credit_officer"})),
    MenuItem("nav.selfreports", "/console/self-reports", frozenset({"credit_officer"})),
    MenuItem("nav.partners", "/console/partners", frozenset({"partner_admin", "auditor"})),
    MenuItem("nav.programmes", "/console/programmes", frozenset({"partner_admin", "auditor", "mapping_admin"})),
    MenuItem("nav.audit", "/console/audit", frozenset({"auditor"})),
)


def menu_for(roles: frozenset[str]) -> list[MenuItem]:
    return [item for item in MENU if item.roles & roles]


def gateway_of(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def _secure(request: Request) -> bool:
    gw = gateway_of(request)
    return not (gw.settings.development and request.url.scheme == "http" and request.url.hostname in _LOOPBACK)


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=_secure(request), httponly=True, samesite="lax")


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=_secure(request), httponly=True, samesite="lax")


async def _session(request: Request, kind: Kind, cookie: str, idle: int | None = None) -> WebSession:
    gw = gateway_of(request)
    token = request.cookies.get(cookie)
    return await run_in_threadpool(load_session, gw, kind, token, idle_seconds=idle)


async def staff_session(request: Request) -> WebSession:
    return await _session(request, "staff", STAFF_COOKIE)


async def resident_session(request: Request) -> WebSession:
    gw = gateway_of(request)
    kiosk = request.cookies.get(KIOSK_COOKIE) == "1"
    return await _session(request, "resident", RESIDENT_COOKIE, gw.settings.kiosk_idle_seconds if kiosk else None)


def principal(session: WebSession) -> AdminPrincipal:
    return AdminPrincipal(name=session.subject, roles=session.roles)


def require_any(session: WebSession, *roles: str) -> AdminPrincipal:
    """A page's role check: 403 (and the page is absent from the menu) without one of ``roles``."""
    if not session.roles & set(roles):
        raise PermissionDenied(f"This page needs one of the roles {', '.join(roles)}.", required_roles=list(roles))
    return principal(session)


async def csrf_form(request: Request, session: WebSession) -> dict[str, str]:
    """The submitted form's text fields, after the CSRF check (files are read separately)."""
    form = await request.form()
    check_csrf(session, str(form.get("csrf_token") or ""))
    return {k: v for k, v in form.items() if isinstance(v, str)}
