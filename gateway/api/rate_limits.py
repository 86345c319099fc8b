"""Applying partners' rate limits to every partner-authenticated request (issue 13).

Called from ``authenticate_partner`` once the partner is known; the limiter lives on the app (one
per process; the counters themselves are shared in the database or Redis).
"""

from __future__ import annotations

from fastapi import Request

from gateway.api.request_id import EXTRA_HEADERS
from gateway.errors import RateLimited
from gateway.partners import Partner
from gateway.services.operations.rate_limits import RateLimiter, limit_for

__all__ = ["enforce_rate_limit"]


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        gw = state.gateway
        limiter = state.rate_limiter = RateLimiter(gw.engine, gw.settings.redis_url)
    return limiter


async def enforce_rate_limit(request: Request, partner: Partner) -> None:
    route = request.scope.get("route")
    endpoint = getattr(route, "path", None) or request.url.path
    limit = limit_for(partner, endpoint)
    if limit is None:
        return
    decision = await _limiter(request).hit(partner.id, endpoint, limit)
    headers = decision.headers()
    # Sent with whatever answer follows, a problem document included (see RequestIdMiddleware).
    setattr(request.state, EXTRA_HEADERS, headers)
    if not decision.allowed:
        raise RateLimited("The partner's request limit for this endpoint is used up; retry later.")
