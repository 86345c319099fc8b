"""Rate limits per partner and endpoint, configured in the partner file (``rate_limits``), shared
by every gateway process: counted in the database, or in Redis when ``GATEWAY_REDIS_URL`` is set.

A fixed window (``limit`` requests per ``window_seconds``): simple to explain to a partner, one
counter per window, and the same answer from every process. A partner without ``rate_limits`` costs
nothing here: no counter is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import ServiceUnavailable
from gateway.partners import Partner
from gateway.store.tables_operations import rate_limit_windows

__all__ = ["Decision", "Limit", "RateLimiter", "limit_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    limit: int
    window: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: Limit
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        """IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), plus Retry-After on a refusal."""
        out = {
            "RateLimit-Policy": f'"partner";q={self.limit.limit};w={self.limit.window}',
            "RateLimit": f'"partner";r={self.remaining};t={self.reset}',
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, self.reset))
        return out


def limit_for(partner: Partner, endpoint: str) -> Limit | None:
    config: Mapping[str, Any] = partner.document.get("rate_limits") or {}
    entry = (config.get("endpoints") or {}).get(endpoint) or config.get("default")
    if not entry:
        return None
    return Limit(int(entry["limit"]), int(entry["window_seconds"]))


class RateLimiter:
    def __init__(self, engine: Engine, redis_url: str | None) -> None:
        self._engine = engine
        self._redis_url = redis_url
        self._redis: Any = None

    def _window(self, limit: Limit, now: float) -> tuple[int, int]:
        start = int(now) // limit.window * limit.window
        return start, start + limit.window - int(now)

    async def hit(self, partner_id: str, endpoint: str, limit: Limit, *, now: float | None = None) -> Decision:
        """Count one request and decide; the counter is shared by every process."""
        moment = time.time() if now is None else now
        start, reset = self._window(limit, moment)
        if self._redis_url is not None:
            count = await self._hit_redis(self._redis_url, partner_id, endpoint, start, limit)
        else:
            from fastapi.concurrency import run_in_threadpool

            count = await run_in_threadpool(self._hit_database, partner_id, endpoint, start, limit)
        return Decision(count <= limit.limit, limit, max(0, limit.limit - count), reset)

    async def _hit_redis(self, url: str, partner_id: str, endpoint: str, start: int, limit: Limit) -> int:
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.from_url(url, socket_timeout=2)
        from redis.exceptions import RedisError

        key = f"gateway:ratelimit:{partner_id}:{endpoint}:{start}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, limit.window * 2)
                count, _ = await pipe.execute()
        except RedisError:
            log.error("the rate-limit store (GATEWAY_REDIS_URL) is unreachable")
            raise ServiceUnavailable("The gateway cannot count requests right now; retry shortly.") from None
        return int(count)

    def _hit_database(self, partner_id: str, endpoint: str, start: int, limit: Limit) -> int:
        where = (
            (rate_limit_windows.c.partner_id == partner_id)
            & (rate_limit_windows.c.endpoint == endpoint)
            & (rate_limit_windows.c.window_start == start)
        )
        for _ in range(3):
            with self._engine.begin() as conn:
                # An atomic increment: concurrent processes each get their own count.
                counted = conn.execute(
                    update(rate_limit_windows)
                    .where(where)
                    .values(count=rate_limit_windows.c.count + 1)
                    .returning(rate_limit_windows.c.count)
                ).scalar_one_or_none()
                if counted is not None:
                    return int(counted)
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        insert(rate_limit_windows).values(
                            partner_id=partner_id, endpoint=endpoint, window_start=start, count=1
                        )
                    )
                    # A new window: the partner's finished windows are no longer needed.
                    conn.execute(
                        delete(rate_limit_windows).where(
                            (rate_limit_windows.c.partner_id == partner_id)
                            & (rate_limit_windows.c.window_start < start - limit.window)
                        )
                    )
                return 1
            except IntegrityError:
                continue  # another process opened the window first: increment it
        raise RuntimeError("rate-limit window could not be counted")

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
