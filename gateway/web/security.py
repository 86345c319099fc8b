"""Security headers of the web pages: a strict Content-Security-Policy and its companions.

A pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``) that touches only the
page prefixes: the JSON API keeps its answers exactly as before and the interactive API docs keep
their own scripts. The policy allows no inline script or style at all (every script and style sheet
is a static file of this package; charts are SVG drawn on the server with presentation
attributes), no framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), forms posting
only to this origin, and no referrer (a page's URL never leaks to another site). Pages are
``no-store``: a shared kiosk's back button must not show the previous resident's score.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "PAGE_PREFIXES", "SecurityHeaders"]

PAGE_PREFIXES: Final = ("/console", "/me", "/dev-idp", "/web-static")
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def _is_page(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/web-static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers.extend(_HEADERS)
                headers.append((b"cache-control", b"public, max-age=300" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
