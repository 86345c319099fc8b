"""JSON request bodies are parsed once, by the bounded parser, before any route sees them.

A pure ASGI middleware inside the body limit: a request whose media type is ``application/json``
or ``…+json`` has its (already bounded) body read and parsed by :func:`gateway.jsonparse.loads`.
A body that is not JSON, not UTF-8, nested too deeply or with duplicate member names is answered
here with a 400 problem (``malformed_body`` / ``json_too_deep``), one holding text no database can
store (``gateway.text``) with a 422 ``invalid_text``; so FastAPI's own parser — which would answer
a generic 400 or recurse into a ``RecursionError`` — only ever meets documents that parse. The
parsed value is left in ``scope["gateway.json"]`` for routes that read the raw body (ingestion)
and the bytes are replayed unchanged to the application.
"""

from __future__ import annotations

from typing import Any

from gateway import jsonparse
from gateway.api.body_limit import settings_of
from gateway.api.problems import send_problem
from gateway.errors import InvalidText, MalformedBody
from gateway.text import describe, tree_fault

__all__ = ["PARSED_JSON", "PER_RECORD_TEXT_PATHS", "JsonBodyMiddleware", "is_json_media_type"]

PARSED_JSON = "gateway.json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PER_RECORD_TEXT_PATHS = ("/v1/ingest/records",)


def is_json_media_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonBodyMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
        if not is_json_media_type(content_type.decode("latin-1")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        del chunks
        if body:
            try:
                parsed = jsonparse.loads(body, max_depth=settings_of(scope).json_max_depth)
                # Text no database can store is refused before any route sees it; ingestion checks
                # each record itself so that one bad record does not fail its batch.
                fault = None if scope.get("path", "").startswith(PER_RECORD_TEXT_PATHS) else tree_fault(parsed)
                if fault:
                    raise InvalidText(describe(fault), reason=fault)
            except (MalformedBody, InvalidText) as exc:
                await send_problem(scope, send, exc)
                return
            scope[PARSED_JSON] = parsed
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
