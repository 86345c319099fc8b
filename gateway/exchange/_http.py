"""One bounded HTTP GET for everything the gateway fetches from partners (JWK Sets, status lists).

Retries only what is worth retrying (transport errors, 429, 5xx) with tenacity's bounded,
jittered backoff; never follows redirects; stops reading past a size limit. Callers turn the
outcomes below into their own problem types; what the upstream answered is for logs only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

__all__ = ["FetchFailed", "Refused", "TooLarge", "Transient", "get_limited"]


class Transient(Exception):
    """Worth retrying; raised after the last attempt. ``reason`` is ``transport`` or ``http_status``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(Exception):
    """The server answered with a status other than 200 that is not worth retrying."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class TooLarge(Exception):
    """The body grew past the limit; reading stopped there."""


class FetchFailed(Exception):
    """Any other HTTP client error (invalid URL, protocol error)."""


async def _get_once(
    client: httpx.AsyncClient, uri: str, *, accept: str, timeout: httpx.Timeout | float, max_bytes: int
) -> bytes:
    try:
        async with client.stream(
            "GET", uri, headers={"Accept": accept}, timeout=timeout, follow_redirects=False
        ) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise Transient("http_status")
            if response.status_code != 200:
                raise Refused(response.status_code)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge
            return bytes(body)
    except httpx.TransportError as exc:
        raise Transient("transport") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed from exc


async def get_limited(
    client: httpx.AsyncClient,
    uri: str,
    *,
    accept: str,
    timeout: httpx.Timeout | float,
    max_bytes: int,
    attempts: int,
    wait: Any,
    sleep: Callable[[float], Awaitable[None]],
) -> bytes:
    """The body of a 200 answer.

    :raises Transient: every attempt failed in a way worth retrying.
    :raises Refused, TooLarge, FetchFailed: at once, without retrying.
    """
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(Transient),
        sleep=sleep,
        reraise=True,
    )
    # httpx's timeouts bound each phase (connect, each read); a server dripping one byte a second
    # would pass them all. Each attempt as a whole is bounded too.
    per_attempt = float(timeout) if isinstance(timeout, int | float) else float(timeout.read or 5.0)
    async for attempt in retrying:
        with attempt:
            try:
                return await asyncio.wait_for(
                    _get_once(client, uri, accept=accept, timeout=timeout, max_bytes=max_bytes), per_attempt
                )
            except TimeoutError:
                raise Transient("timeout") from None
    raise Transient("no_attempt")  # pragma: no cover - tenacity always makes one attempt
