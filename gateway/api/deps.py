"""Request dependencies: the process's gateway context and the authenticated caller.

Three kinds of caller, three security schemes in the OpenAPI document: partners (cities, banks,
incentive providers, collaborating units) with an access token from ``/oauth/token``; credit
officers with an API key; residents with an ID token of the real-name identity provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.rate_limits import enforce_rate_limit
from gateway.errors import AuthenticationRequired, PermissionDenied
from gateway.partners import Partner
from gateway.services.admin.admins import AdminPrincipal
from gateway.services.admin.credentials import authenticate_api_key
from gateway.services.context import Gateway
from gateway.services.exchange.oauth import INGEST_SCOPE, PartnerPrincipal
from gateway.services.residents.resident_identity import Resident
from gateway.services.web.resident_pages import resident_from_profile
from gateway.services.web.sessions import check_csrf, load_session
from gateway.web.sessions import KIOSK_COOKIE, RESIDENT_COOKIE, STAFF_COOKIE

__all__ = [
    "AdminDep",
    "ExchangePartnerDep",
    "GatewayDep",
    "HolderDep",
    "OfficerDep",
    "ResidentDep",
    "UnitDep",
    "get_gateway",
    "require_role",
]

# auto_error=False everywhere: a missing header must become our 401 problem, not a bare 403.
_partner_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="partnerAccessToken",
    description="An access token from POST /oauth/token (client credentials with private_key_jwt).",
)
_officer_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description=(
        "An administrator token (typ admin+jwt) carrying roles — mapping_admin, partner_admin, credit_officer, "
        "auditor — from `gateway admin token` in development; or a credit officer's API key from "
        "`gateway credentials create officer NAME` (role credit_officer)."
    ),
)
_resident_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="residentIdToken",
    description="An ID token from the real-name identity provider (the development IdP in development mode).",
)
PartnerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_partner_bearer)]
OfficerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_officer_bearer)]
ResidentCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_resident_bearer)]


async def get_gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


# The partner and admin checks are CPU-only (a verified token is cached until it expires), so they are
# coroutines: a plain ``def`` dependency costs a thread hop (~85 µs measured) for each of them.
async def authenticate_partner(request: Request, gw: GatewayDep, credentials: PartnerCredentials) -> PartnerPrincipal:
    if credentials is None:
        raise AuthenticationRequired("Send an access token from /oauth/token as a Bearer credential.")
    principal = gw.oauth.authenticate(credentials.credentials)
    await enforce_rate_limit(request, principal.partner)  # issue 13: from the partner file
    return principal


PartnerDep = Annotated[PartnerPrincipal, Depends(authenticate_partner)]


def _partner_of_kind(*kinds: str) -> Callable[[PartnerPrincipal], Awaitable[PartnerPrincipal]]:
    async def check(principal: PartnerDep) -> PartnerPrincipal:
        if principal.partner.kind not in kinds:
            raise PermissionDenied("This kind of partner may not call this endpoint.")
        return principal

    return check


def require_unit(
    principal: Annotated[PartnerPrincipal, Depends(_partner_of_kind("collaborating_unit"))],
) -> Partner:
    if INGEST_SCOPE not in principal.scopes:
        raise PermissionDenied("The access token does not carry the ingest scope.")
    return principal.partner


UnitDep = Annotated[Partner, Depends(require_unit)]
ExchangePartnerDep = Annotated[
    PartnerPrincipal,
    Depends(_partner_of_kind("city_platform", "financial_institution", "incentive_provider")),
]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _console_session(request: Request, gw: Gateway) -> AdminPrincipal | None:
    """issue 11: the console's session cookie works on the admin API too; unsafe methods also need
    the session's CSRF token in ``X-CSRF-Token`` (a cookie alone is what a forged request carries)."""
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    session = await run_in_threadpool(load_session, gw, "staff", token)
    if request.method not in _SAFE_METHODS:
        check_csrf(session, request.headers.get("x-csrf-token"))
    return AdminPrincipal(name=session.subject, roles=session.roles)


async def authenticate_admin(request: Request, gw: GatewayDep, credentials: OfficerCredentials) -> AdminPrincipal:
    if credentials is None:
        from_session = await _console_session(request, gw)
        if from_session is not None:
            return from_session
        raise AuthenticationRequired("Send an administrator token or an officer API key as a Bearer credential.")
    presented = credentials.credentials
    if presented.startswith("gwk."):
        principal = await run_in_threadpool(authenticate_api_key, gw, presented)
        if principal is None:
            raise AuthenticationRequired("The credential is not valid.")
        return AdminPrincipal(name=principal.id, roles=frozenset({"credit_officer"}))
    return gw.admins.authenticate(presented)


AdminDep = Annotated[AdminPrincipal, Depends(authenticate_admin)]


def require_role(role: str) -> Callable[[AdminPrincipal], Awaitable[AdminPrincipal]]:
    """A dependency admitting administrators holding ``role``."""

    async def check(principal: AdminDep) -> AdminPrincipal:
        principal.require(role)
        return principal

    return check


OfficerDep = Annotated[AdminPrincipal, Depends(require_role("credit_officer"))]


def authenticate_resident(gw: GatewayDep, credentials: ResidentCredentials) -> Resident:
    if credentials is None:
        raise AuthenticationRequired("Send the identity provider's ID token as a Bearer credential.")
    return gw.residents.authenticate(credentials.credentials)


ResidentDep = Annotated[Resident, Depends(authenticate_resident)]


async def authenticate_holder(request: Request, gw: GatewayDep, credentials: ResidentCredentials) -> Resident:
    """The credential endpoint's caller: an ID token as for every resident endpoint, or (issue 11) the
    residents' pages' session, whose script is a holder in the browser. With the cookie the request
    needs the session's CSRF token in ``X-CSRF-Token`` too: the cookie alone is what a forged
    request from another site carries."""
    if credentials is not None:
        return gw.residents.authenticate(credentials.credentials)
    token = request.cookies.get(RESIDENT_COOKIE)
    if not token:
        raise AuthenticationRequired("Send the identity provider's ID token as a Bearer credential.")
    idle = gw.settings.kiosk_idle_seconds if request.cookies.get(KIOSK_COOKIE) == "1" else None
    session = await run_in_threadpool(load_session, gw, "resident", token, idle_seconds=idle)
    check_csrf(session, request.headers.get("x-csrf-token"))
    return resident_from_profile(session.subject, session.profile)


HolderDep = Annotated[Resident, Depends(authenticate_holder)]
