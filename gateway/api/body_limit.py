"""Every request body is bounded as it streams in, before authentication and parsing.

A pure ASGI middleware (outside FastAPI's routing, so no route can forget it): the limit for a
request is the first prefix of ``Settings.body_limits()`` matching its path, else
``Settings.max_request_bytes``. A declared ``Content-Length`` over the limit is refused at once
(nothing is read); a body sent without one (chunked) is counted chunk by chunk and refused the
moment it passes the limit, so memory stays flat whatever a client announces or sends. Whatever
the application was doing with the body is dropped and a 413 problem goes out instead.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gateway.api.problems import send_problem
from gateway.config import Settings
from gateway.errors import MalformedBody, PayloadTooLarge

__all__ = ["BodyLimitMiddleware", "limit_for", "settings_of"]

_DEFAULT_SETTINGS = Settings()


class _BodyTooLarge(Exception):
    """Raised inside the application's ``receive`` to stop it reading; never leaves the middleware."""


def settings_of(scope: Any) -> Settings:
    gw = getattr(getattr(scope.get("app"), "state", None), "gateway", None)
    settings = getattr(gw, "settings", None)
    return settings if isinstance(settings, Settings) else _DEFAULT_SETTINGS


@lru_cache(maxsize=16)
def _table(settings: Settings) -> tuple[tuple[str, int], ...]:
    return settings.body_limits()


def limit_for(settings: Settings, path: str) -> int:
    for prefix, limit in _table(settings):
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return limit
    return settings.max_request_bytes


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"A request body here holds at most {limit} bytes.", max_bytes=limit)


class BodyLimitMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(settings_of(scope), scope.get("path", ""))
        declared = [v for k, v in scope.get("headers", ()) if k == b"content-length"]
        if declared:
            if len(declared) > 1 or not declared[0].isdigit() or len(declared[0]) > 19:
                await send_problem(scope, send, MalformedBody("The Content-Length header is not a number."))
                return
            if int(declared[0]) > limit:
                await send_problem(scope, send, _too_large(limit))
                return

        received = 0
        exceeded = False
        started = False

        async def guarded_receive() -> Any:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if exceeded:
                return  # the application's answer to a cut-off body is replaced by ours
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_problem(scope, send, _too_large(limit))
