"""POST /oauth/token: client credentials with private_key_jwt (RFC 6749 §4.4, RFC 7523)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gateway import jsonparse
from gateway.api.deps import GatewayDep
from gateway.api.schemas import PROBLEMS
from gateway.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType
from gateway.exchange import VerificationKey

router = APIRouter(tags=["oauth"])
_MAX_FORM_BYTES = 16 * 1024
_KNOWN = frozenset({"grant_type", "client_assertion_type", "client_assertion", "scope"})


async def _jwks_uri_keys(gw: Any, assertion: str) -> dict[str, Mapping[str, VerificationKey]] | None:
    """Keys of a client registered with a ``jwks_uri`` instead of inline keys, fetched (cached,
    refreshed once per cool-down on an unknown kid) before the synchronous verification runs.
    ``iss`` is read unverified only to find the registered partner; nothing else is trusted."""
    try:
        header_b64, payload_b64, _ = assertion.split(".")
        iss = jsonparse.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))).get("iss")
        kid = jsonparse.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4))).get("kid")
    except (ValueError, AttributeError, TypeError, MalformedBody):
        return None  # malformed: the verification answers with the precise problem
    partner = gw.partners.get(iss) if isinstance(iss, str) else None
    if partner is None or partner.keys or not partner.jwks_uri:
        return None
    keys = await gw.partner_keys.jwks.get_keys(partner.jwks_uri)
    if isinstance(kid, str) and kid not in keys:
        keys = await gw.partner_keys.jwks.refresh_for_unknown_kid(partner.jwks_uri) or keys
    return {partner.id: keys}


@router.post(
    "/oauth/token",
    summary="Obtain an access token (client credentials, private_key_jwt)",
    description=(
        "Form fields: `grant_type=client_credentials`, `client_assertion_type="
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion` (a JWT with header "
        "`typ: client-authentication+jwt`, `iss` = `sub` = your partner id, `aud` = the gateway's issuer "
        "identifier as a string, `exp` at most 5 minutes ahead, a single-use `jti`), optional `scope`. "
        "Errors are RFC 9457 problems that also carry the RFC 6749 `error` member."
    ),
    responses={
        200: {
            "description": "An access token",
            "content": {
                "application/json": {
                    "example": {
                        "access_token": "eyJ…",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "scope": "tourism",
                    }
                }
            },
        },
        **PROBLEMS(400, 401, 413, 415),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "client_assertion_type", "client_assertion"],
                        "properties": {
                            "grant_type": {"const": "client_credentials"},
                            "client_assertion_type": {
                                "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                            },
                            "client_assertion": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request, gw: GatewayDep) -> Any:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Send the token request as application/x-www-form-urlencoded.")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise PayloadTooLarge("A token request holds at most 16 KiB.")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise MalformedBody("The form body must be ASCII (URL-encoded).") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 §3.2: request parameters must not be included more than once.
            shown = name if name in _KNOWN else "a parameter"
            raise MalformedBody(f"{shown} appears more than once.", error="invalid_request")
        form[name] = value
    fetched = await _jwks_uri_keys(gw, form.get("client_assertion", ""))
    answer = await run_in_threadpool(gw.oauth.token, form, fetched)
    # RFC 6749 §5.1: token responses must not be cached.
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
