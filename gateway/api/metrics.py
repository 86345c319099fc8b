"""``GET /metrics`` and the middleware that counts requests (issue 13, observability).

The endpoint is closed unless configured: ``GATEWAY_METRICS_TOKEN`` (a bearer token the scraper
sends) or ``GATEWAY_METRICS_LOOPBACK=1`` (clients on the loopback interface only). Otherwise it
answers 404 like any unknown path. ``GATEWAY_METRICS_BIND`` serves the same text on a separate
listener instead (started by ``gateway serve``).
"""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import AuthenticationRequired, NotFound
from gateway.services.operations.metrics import CONTENT_TYPE, observe_request, render

__all__ = ["MetricsMiddleware", "router"]

router = APIRouter()
_LOOPBACK = {"127.0.0.1", "::1"}


class MetricsMiddleware:
    """Counts every HTTP request by route *template* (never the concrete path, which could hold an
    id) with its status and latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            observe_request(template, scope["method"], status, time.perf_counter() - start)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings = request.app.state.gateway.settings
    allowed = False
    token = settings.metrics_token
    auth = request.headers.get("authorization", "")
    if token is not None and auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
            raise AuthenticationRequired("The metrics token is not valid.")
        allowed = True
    elif settings.metrics_loopback and request.client is not None and request.client.host in _LOOPBACK:
        allowed = True
    elif token is not None:
        raise AuthenticationRequired("The metrics endpoint needs the metrics bearer token.")
    if not allowed:
        raise NotFound("No such resource.")
    return Response(render(), media_type=CONTENT_TYPE)
