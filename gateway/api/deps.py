"""Request dependencies: the process's gateway context and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.errors import AuthenticationRequired, PermissionDenied
from gateway.partners import Partner
from gateway.services.context import Gateway
from gateway.services.credentials import Principal, authenticate_api_key

__all__ = ["BearerCredentials", "GatewayDep", "OfficerDep", "UnitDep", "get_gateway"]

# auto_error=False: a missing header must become our 401 problem, not FastAPI's bare 403.
_bearer = HTTPBearer(auto_error=False, description="An API key issued with `gateway credentials create`.")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def authenticate(gw: GatewayDep, credentials: BearerCredentials) -> Principal:
    if credentials is None:
        raise AuthenticationRequired("Send an Authorization: Bearer credential.")
    principal = await run_in_threadpool(authenticate_api_key, gw, credentials.credentials)
    if principal is None:
        raise AuthenticationRequired("The credential is not valid.")
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_unit(gw: GatewayDep, principal: PrincipalDep) -> Partner:
    partner = gw.partners.enabled(principal.id) if principal.type == "unit" else None
    if partner is None or partner.kind != "collaborating_unit":
        raise PermissionDenied("Only a collaborating unit may push records.")
    return partner


def require_officer(principal: PrincipalDep) -> Principal:
    if principal.type != "officer":
        raise PermissionDenied("Only a credit officer may do this.")
    return principal


UnitDep = Annotated[Partner, Depends(require_unit)]
OfficerDep = Annotated[Principal, Depends(require_officer)]
