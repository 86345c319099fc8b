"""``Cache-Control: no-store`` on every answer under ``/v1/`` and ``/oauth/`` that did not set its
own: assertions, eligibility decisions, residents' and officers' views all hold personal data, and
a shared cache (a proxy, a browser's back button on a kiosk) must keep none of it. Public
documents (JWKS, issuer metadata, schemas, status lists) live elsewhere and keep their own
``Cache-Control``. A pure ASGI middleware, so every present and future route gets it."""

from __future__ import annotations

from typing import Any

__all__ = ["PERSONAL_PREFIXES", "NoStoreMiddleware"]

PERSONAL_PREFIXES = ("/v1/", "/oauth/")


class NoStoreMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(PERSONAL_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, no_store)
