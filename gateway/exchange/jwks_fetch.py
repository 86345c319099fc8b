"""An async client for partners' ``jwks_uri`` (RFC 7517 key sets), cached per process.

Behaviour, each answering a known failure of JWKS clients (see tech-anchors B.1–B.4, B.8):

- the whole parsed set is cached per URI for ``ttl`` seconds; keys are parsed once per fetch;
- stale-while-revalidate: past ``ttl`` the cached set keeps serving while one refresh runs in the
  background; a hanging key server never holds up a request that has usable keys (issue 15);
- single flight: at most one bounded fetch per URI at a time, whoever triggers it;
- an unknown ``kid`` triggers at most one refresh per ``refresh_cooldown`` (30 s) per URI, so a
  stream of tokens with random ``kid`` values cannot turn us into a flood against the partner;
  only the request with that ``kid`` waits for it, and at most ``unknown_kid_wait`` seconds;
- stale-if-error: a failed refresh keeps serving the last good set until it is ``max_stale``
  seconds old (counted from its fetch), then fails; the cache is never wiped by a failure. A set
  that publishes private keys is the exception: it drops the cached set, since those keys are
  compromised;
- with nothing cached, a failed fetch fails fast (``jwks_unavailable``) and is not retried
  again within the cool-down (negative caching);
- a fetch is bounded: ``attempts`` tries (3) with exponential backoff and jitter (tenacity),
  a per-request ``timeout``, no redirects, a document size limit; only transport errors, 429
  and 5xx are retried;
- garbage JSON or a non-JWKS document → ``jwks_invalid``; unknown key types are skipped (and
  logged), and a set with no usable key at all is ``jwks_invalid``.

This cache is deliberately per process: it holds public keys only and every process can
rebuild it, so no shared state is needed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Final

import httpx
from tenacity import wait_exponential_jitter

from gateway import jsonparse
from gateway.errors import ConfigurationError, GatewayError, MalformedBody
from gateway.exchange._http import FetchFailed, Refused, TooLarge, Transient, get_limited
from gateway.exchange.errors import JwksInvalid, JwksUnavailable, UnknownKey
from gateway.exchange.keys import SUPPORTED_ALGORITHMS, VerificationKey, parse_jwks
from gateway.exchange.verify import TokenVerifier, VerifiedToken

__all__ = ["JwksClient"]

_ACCEPT: Final = "application/jwk-set+json, application/json;q=0.9"
logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    keys: Mapping[str, VerificationKey] | None
    fetched_at: float
    attempted_at: float
    error: GatewayError | None = None


def _copy(error: GatewayError) -> GatewayError:
    # A fresh instance per raise, so tracebacks of earlier requests do not pile up on one object.
    return type(error)(error.detail, **error.extensions)


class JwksClient:
    """Fetches, parses and caches partners' JWK Sets.

    :param allowed_algs: algorithms a partner key may be bound to.
    :param client: an ``httpx.AsyncClient`` to use (not closed by us); otherwise one is created
        with ``transport`` (inject ``httpx.MockTransport`` in tests) and closed by :meth:`aclose`.
    :param now: a monotonic clock in seconds; ``sleep`` is awaited between retries.
    """

    def __init__(
        self,
        *,
        allowed_algs: Collection[str] = SUPPORTED_ALGORITHMS,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ttl: float = 300.0,
        refresh_cooldown: float = 30.0,
        max_stale: float = 3600.0,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
        max_document_bytes: int = 64 * 1024,
        unknown_kid_wait: float | None = None,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_fetch: Callable[[str], None] | None = None,
    ) -> None:
        if not (refresh_cooldown > 0 and 0 < ttl <= max_stale and attempts >= 1 and timeout > 0):
            raise ConfigurationError("JWKS client limits are inconsistent (need 0 < ttl <= max_stale).")
        self._allowed_algs = frozenset(allowed_algs)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._ttl = ttl
        self._cooldown = refresh_cooldown
        self._max_stale = max_stale
        self._timeout = httpx.Timeout(timeout)
        self._attempts = attempts
        self._wait = wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial)
        self._max_bytes = max_document_bytes
        self._now = now
        self._sleep = sleep
        self._entries: dict[str, _Entry] = {}
        # Told every fetch outcome ("ok" or the failure reason): the gateway counts them (issue 13).
        self._on_fetch = on_fetch or (lambda outcome: None)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._unknown_kid_wait = unknown_kid_wait if unknown_kid_wait is not None else timeout

    async def __aenter__(self) -> JwksClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()

    async def settle(self) -> None:
        """Wait for the refreshes under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _start_refresh(self, uri: str) -> asyncio.Task[None]:
        """The one refresh of ``uri`` under way, started if there is none (single flight: one
        bounded fetch at a time per partner, whoever asks)."""
        task = self._tasks.get(uri)
        if task is None:
            task = self._tasks[uri] = asyncio.get_running_loop().create_task(self._run_refresh(uri))
        return task

    def _in_cooldown(self, entry: _Entry | None, now: float) -> bool:
        return entry is not None and now - entry.attempted_at < self._cooldown

    async def get_keys(self, uri: str) -> Mapping[str, VerificationKey]:
        """The partner's keys: cached while fresh; after ``ttl`` the cached set keeps serving while
        one refresh runs in the background (stale-while-revalidate, until ``max_stale``); only a
        request with nothing usable cached waits for a fetch.

        :raises JwksUnavailable: nothing usable cached and the fetch failed.
        :raises JwksInvalid: nothing usable cached and the document is not a usable JWK Set.
        """
        if not uri.startswith("https://"):
            raise ConfigurationError("A jwks_uri must be an https URL.")
        entry = self._entries.get(uri)
        now = self._now()
        if entry is not None and entry.keys is not None:
            age = now - entry.fetched_at
            if age < self._ttl:
                return entry.keys
            if age <= self._max_stale:
                if not self._in_cooldown(entry, now):
                    self._start_refresh(uri)
                return entry.keys
        if uri not in self._tasks and self._in_cooldown(entry, now):
            assert entry is not None
            return self._stale_or_raise(uri, entry, now)  # negative caching: fail fast
        await asyncio.shield(self._start_refresh(uri))
        return self._stale_or_raise(uri, self._entries[uri], self._now())

    async def refresh_for_unknown_kid(self, uri: str) -> Mapping[str, VerificationKey] | None:
        """Refetch because a token named a ``kid`` we do not have — at most once per cool-down.

        Only the request with the unknown ``kid`` waits, and at most ``unknown_kid_wait`` seconds;
        requests with known kids keep using the cached set meanwhile. Returns the new set, or
        ``None`` when no refresh happened (cool-down), it failed or it is still under way.
        """
        entry = self._entries.get(uri)
        if uri not in self._tasks and self._in_cooldown(entry, self._now()):
            return None
        try:
            await asyncio.wait_for(asyncio.shield(self._start_refresh(uri)), self._unknown_kid_wait)
        except TimeoutError:
            return None
        current = self._entries.get(uri)
        return current.keys if current is not None and current.error is None else None

    async def verify(self, verifier: TokenVerifier, token: str, uri: str) -> VerifiedToken:
        """Verify ``token`` with the keys at ``uri``, refreshing once on an unknown ``kid``."""
        keys = await self.get_keys(uri)
        try:
            return verifier.verify(token, keys)
        except UnknownKey as exc:
            if exc.extensions.get("check") != "kid_unknown":
                raise
            refreshed = await self.refresh_for_unknown_kid(uri)
            if refreshed is None:
                raise
            return verifier.verify(token, refreshed)

    def _stale_or_raise(self, uri: str, entry: _Entry, now: float) -> Mapping[str, VerificationKey]:
        if entry.keys is not None and now - entry.fetched_at <= self._max_stale:
            return entry.keys
        raise _copy(entry.error) if entry.error is not None else JwksUnavailable(reason="stale")

    async def _run_refresh(self, uri: str) -> None:
        """One fetch; its outcome is recorded in the cache, never raised (it may run unawaited)."""
        try:
            keys = await self._fetch(uri)
        except (JwksUnavailable, JwksInvalid) as exc:
            now = self._now()
            logger.warning("JWKS refresh for %s failed: %s", uri, exc.code)
            self._on_fetch(str(exc.extensions.get("reason") or exc.code))
            entry = self._entries.get(uri)
            if entry is None:
                entry = self._entries[uri] = _Entry(None, fetched_at=now, attempted_at=now)
            entry.attempted_at, entry.error = now, exc
            if exc.extensions.get("reason") == "private_key_material":
                entry.keys = None  # the partner's keys are compromised: stop trusting the old set too
            elif entry.keys is not None:
                logger.warning("serving a stale JWKS for %s (%.0f s old)", uri, now - entry.fetched_at)
        else:
            now = self._now()
            self._entries[uri] = _Entry(keys, fetched_at=now, attempted_at=now)
            self._on_fetch("ok")
        finally:
            self._tasks.pop(uri, None)

    async def _fetch(self, uri: str) -> Mapping[str, VerificationKey]:
        try:
            body = await get_limited(
                self._client,
                uri,
                accept=_ACCEPT,
                timeout=self._timeout,
                max_bytes=self._max_bytes,
                attempts=self._attempts,
                wait=self._wait,
                sleep=self._sleep,
            )
        except Transient as exc:
            raise JwksUnavailable("The partner's key set could not be fetched.", reason=exc.reason) from exc
        except Refused as exc:
            # The upstream status is logged, not returned: callers learn nothing about the host.
            logger.info("JWKS fetch answered HTTP %d", exc.status)
            raise JwksUnavailable("The partner's key set could not be fetched.", reason="http_status") from None
        except TooLarge:
            raise JwksInvalid("The partner's key set is too large.", reason="too_large") from None
        except FetchFailed as exc:
            raise JwksUnavailable("The partner's key set could not be fetched.", reason="http_error") from exc
        try:
            document = jsonparse.loads(body, max_bytes=self._max_bytes, what="A JWK Set")
        except MalformedBody:
            raise JwksInvalid("The partner's key set is not JSON.", reason="not_json") from None
        parsed = parse_jwks(document, self._allowed_algs)
        for skipped in parsed.skipped:
            logger.warning("JWKS %s: skipped key %r (%s)", uri, skipped.kid, skipped.reason)
        if not parsed.keys:
            raise JwksInvalid("The partner's key set has no usable key.", reason="no_usable_keys")
        return MappingProxyType(parsed.keys)
