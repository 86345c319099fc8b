"""Request ids (issue 13): every request gets one, taken from a well-formed ``X-Request-ID`` or
FAPI's ``x-fapi-interaction-id`` or else generated, echoed back in the response headers, and
visible to every log line and problem document of the request through a context variable.

A pure ASGI middleware, so it costs a dictionary lookup and no extra task per request.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.services.operations.logs import REQUEST_ID

__all__ = ["EXTRA_HEADERS", "RequestIdMiddleware"]

EXTRA_HEADERS = "gateway_extra_headers"  # a key of request.state: {field: value} for the response

# Printable, bounded, no spaces or quotes: a caller cannot inject log structure through it.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in (b"x-request-id", b"x-fapi-interaction-id"):
                text = value.decode("latin-1")
                if _WELL_FORMED.fullmatch(text):
                    offered.setdefault(name, text)
        rid = offered.get(b"x-request-id") or offered.get(b"x-fapi-interaction-id") or str(uuid.uuid4())
        REQUEST_ID.set(rid)  # task-local: uvicorn runs each request in its own task
        echo = [(b"x-request-id", rid.encode())]
        if b"x-fapi-interaction-id" in scope_header_names(scope):
            echo.append((b"x-fapi-interaction-id", offered.get(b"x-fapi-interaction-id", rid).encode()))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Fields decided before the handler ran (rate-limit state) go on every answer, errors too.
                extra = scope.get("state", {}).get(EXTRA_HEADERS, {})
                fields = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
                message["headers"] = [*message.get("headers", []), *echo, *fields]
            await send(message)

        await self.app(scope, receive, send_with_id)


def scope_header_names(scope: Scope) -> set[bytes]:
    return {name for name, _ in scope["headers"]}
