"""POST /oauth/token: client credentials with private_key_jwt (RFC 6749 §4.4, RFC 7523)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gateway.api.deps import GatewayDep
from gateway.api.schemas import PROBLEMS
from gateway.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType

router = APIRouter(tags=["oauth"])
_MAX_FORM_BYTES = 16 * 1024
_KNOWN = frozenset({"grant_type", "client_assertion_type", "client_assertion", "scope"})


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
    answer = await run_in_threadpool(gw.oauth.token, form)
    # RFC 6749 §5.1: token responses must not be cached.
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
