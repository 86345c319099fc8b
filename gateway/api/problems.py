"""RFC 9457 problem details, produced in one place for every error the API can return.

The body is built from the error's class (stable ``code``, fixed ``title``, ``status``) and the
detail the gateway wrote; library exception texts, stack traces, paths and request values never
reach it. FastAPI's own validation errors are re-rendered without their ``input`` member, which
would otherwise echo what the caller sent (an ID number, say).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import GatewayError
from gateway.services.operations.logs import current_request_id
from gateway.services.operations.metrics import record_problem

__all__ = ["PROBLEM_MEDIA_TYPE", "install_problem_handlers", "problem_catalogue", "problem_response"]

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_CODES = {
    404: ("not_found", "The resource does not exist"),
    405: ("method_not_allowed", "The method is not allowed on this resource"),
    406: ("not_acceptable", "No acceptable representation"),
    413: ("payload_too_large", "The request body is larger than allowed"),
    415: ("unsupported_media_type", "The request body has an unsupported media type"),
}


def _all_error_classes(root: type[GatewayError] = GatewayError) -> list[type[GatewayError]]:
    out = [root]
    for sub in root.__subclasses__():
        out.extend(_all_error_classes(sub))
    return out


def problem_catalogue() -> dict[str, dict[str, Any]]:
    """Every problem code the gateway can emit, with its title and status (served under /problems)."""
    out = {c.code: {"title": c.title, "status": c.status} for c in _all_error_classes()}
    for status, (code, title) in _HTTP_CODES.items():
        out.setdefault(code, {"title": title, "status": status})
    return out


def _body(request: Request, code: str, title: str, status: int, detail: str, **ext: Any) -> dict[str, Any]:
    issuer = request.app.state.issuer
    record_problem(code, status)  # issue 13: refusals and errors by code
    body = {
        "type": f"{issuer}/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **ext,
    }
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id  # issue 13: the same id as the log lines of this request
    return body


def problem_response(request: Request, exc: GatewayError) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sx-score-gateway"'
    return JSONResponse(
        _body(request, exc.code, exc.title, exc.status, exc.detail, **exc.extensions),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.error("request failed: %s", exc.code)
    return problem_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()
    ]
    body = _body(
        request,
        "validation_failed",
        "The request did not pass validation",
        422,
        "The request body or parameters are not valid.",
        errors=errors,
    )
    return JSONResponse(body, status_code=422, media_type=PROBLEM_MEDIA_TYPE)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "The request failed"))
    body = _body(request, code, title, exc.status_code, title + ".")
    return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its type only: the message of an arbitrary exception may hold request data.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    body = _body(request, "internal_error", "Internal error", 500, "The gateway could not complete the request.")
    return JSONResponse(body, status_code=500, media_type=PROBLEM_MEDIA_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
