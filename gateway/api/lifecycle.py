"""API lifecycle (issue 13): a route scheduled to go announces it with ``Deprecation`` (RFC 9745)
and ``Sunset`` (RFC 8594) header fields and a ``Link`` to what replaces it. A route adopts it with
one argument::

    @router.get("/v1/old", deprecated=True, dependencies=[sunset("2027-06-30", "/v1/new")])

The fields go on every answer of the route, problem documents included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import Depends, Request

from gateway.api.request_id import EXTRA_HEADERS

__all__ = ["sunset"]


def sunset(on: str, successor: str | None = None, *, deprecated_since: str | None = None) -> Any:
    """A dependency adding the lifecycle header fields: ``on`` and ``deprecated_since`` are ISO dates."""
    when = datetime.combine(date.fromisoformat(on), datetime.min.time(), UTC)
    since = (
        datetime.combine(date.fromisoformat(deprecated_since), datetime.min.time(), UTC) if deprecated_since else None
    )
    fields = {
        "Deprecation": f"@{int(since.timestamp())}" if since else "true",
        "Sunset": format_datetime(when, usegmt=True),
    }
    if successor:
        fields["Link"] = f'<{successor}>; rel="successor-version"'

    async def announce(request: Request) -> None:
        current = dict(getattr(request.state, EXTRA_HEADERS, {}) or {})
        setattr(request.state, EXTRA_HEADERS, {**current, **fields})

    return Depends(announce)
