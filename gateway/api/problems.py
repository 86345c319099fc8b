"""RFC 9457 problem details, produced in one place for every error the API can return.

The body is built from the error's class (stable ``code``, fixed ``title``, ``status``) and the
detail the gateway wrote; library exception texts, stack traces, paths and request values never
reach it. FastAPI's own validation errors are re-rendered without their ``input`` member, which
would otherwise echo what the caller sent (an ID number, say).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.config import DEFAULT_ISSUER
from gateway.errors import GatewayError, ServiceUnavailable, ValidationFailed
from gateway.services.operations.logs import current_request_id
from gateway.services.operations.metrics import record_problem
from gateway.store.outage import DATABASE_ERRORS, is_data_error, is_outage, outage_log
from gateway.web.errors import audit_forced_page, is_page, page_problem

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "install_problem_handlers",
    "problem_catalogue",
    "problem_response",
    "send_problem",
]

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


RETRY_AFTER_SECONDS = "5"


def problem_response(request: Request, exc: GatewayError) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sx-score-gateway"'
    if exc.status == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    return JSONResponse(
        _body(request, exc.code, exc.title, exc.status, exc.detail, **exc.extensions),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


async def send_problem(scope: Any, send: Any, exc: GatewayError, headers: dict[str, str] | None = None) -> None:
    """Answer ``exc`` as a problem straight from ASGI middleware (which runs outside the handlers)."""
    app = scope.get("app")
    issuer = getattr(getattr(app, "state", None), "issuer", None) or DEFAULT_ISSUER
    body = {
        "type": f"{issuer}/problems/{exc.code}",
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "code": exc.code,
        **exc.extensions,
    }
    record_problem(exc.code, exc.status)
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    raw_headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(payload)).encode()),
        # The rest of an over-long body is not read: the connection cannot be reused.
        (b"connection", b"close"),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.error("request failed: %s", exc.code)
    if is_page(request):  # issue 11: the web pages show the same problem as a page
        await audit_forced_page(request, exc)
        return page_problem(request, exc)
    return problem_response(request, exc)


_LOCATION_ROOTS = frozenset({"body", "query", "path", "header", "cookie"})


def _schema_names(app: Any) -> frozenset[str]:
    """Every member and parameter name the OpenAPI document declares (cached on the app): a
    location element outside this set came from the caller (a key of a free-form object, an
    unknown member) and is never echoed — it may be an ID number or a name."""
    names = getattr(app.state, "schema_names", None)
    if names is None:
        found: set[str] = set(_LOCATION_ROOTS)
        stack: list[Any] = [app.openapi()]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("properties"), dict):
                    found.update(node["properties"])
                if node.get("in") in _LOCATION_ROOTS and isinstance(node.get("name"), str):
                    found.add(node["name"])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        names = app.state.schema_names = frozenset(found)
    return names


def _location(loc: Any, known: frozenset[str]) -> str:
    return ".".join(str(p) if isinstance(p, int) or p in known else "*" for p in loc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    known = _schema_names(request.app)
    errors = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "extra_forbidden":
            # The member's name is the caller's input: say where, never what.
            errors.append({"location": _location(loc[:-1], known), "message": "unexpected member"})
        else:
            errors.append({"location": _location(loc, known), "message": str(e.get("msg", ""))})
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


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Registered for the driver's errors so that they are answered here, inside the application:
    # the catch-all below runs in Starlette's outermost middleware, which re-raises for the server
    # to print a traceback — a thousand of them a second during an outage.
    if is_outage(exc):
        outage_log.failed(exc)  # one log line per outage
        return problem_response(request, ServiceUnavailable("The database is not available; try again shortly."))
    if is_data_error(exc):
        return problem_response(request, ValidationFailed("A value is outside the range the gateway can store."))
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its type only: the message of an arbitrary exception may hold request data.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    body = _body(request, "internal_error", "Internal error", 500, "The gateway could not complete the request.")
    return JSONResponse(body, status_code=500, media_type=PROBLEM_MEDIA_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls in DATABASE_ERRORS:
        app.add_exception_handler(cls, _database_error)
    app.add_exception_handler(Exception, _unexpected)
