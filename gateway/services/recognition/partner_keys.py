"""What a trusted issuer publishes, fetched and cached once per process: its keys and its status lists.

A :class:`TrustAnchor` says which keys may verify an issuer's tokens: this gateway's own keys, a
city platform's inline ``jwks`` (parsed once when the registry loads) or its ``jwks_uri``. Keys at
a ``jwks_uri`` go through one shared :class:`~gateway.exchange.JwksClient` (whole-set cache, one
refresh per cool-down on an unknown ``kid``, stale-if-error, negative caching so an empty cache
fails fast with ``jwks_unavailable``).

Status List Tokens (draft-ietf-oauth-status-list) are verified against the *same* anchor as the
assertion that references them — never against keys the list names itself — with ``typ``,
``sub == uri``, ``iat``/``exp`` checked by :func:`~gateway.exchange.verify_status_list_token`.
A verified list is reused until the earliest of its ``exp``, ``ttl`` after the fetch and our own
ceiling: the ceiling bounds how long a revocation can stay unseen, whatever ``ttl`` the issuer
chose. Anything wrong with a list fails closed: unreachable → 503 ``status_list_unavailable``,
not acceptable → 502 ``status_list_rejected`` naming the failed check.

The ``uri`` comes from a partner's token, so it is never fetched blindly: before any network access
it must share the origin (scheme, host, port) of the issuer's registered ``issuer`` URL or of its
``jwks_uri``, and its host must not be a loopback, private, link-local or otherwise non-public IP
literal (403 ``status_list_untrusted``). Problems never carry what an upstream server answered.
DNS names are not resolved here: an issuer's own host names are the issuer's responsibility.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from tenacity import wait_exponential_jitter

from gateway.errors import GatewayError, PermissionDenied, ServiceUnavailable
from gateway.exchange import (
    JwksClient,
    StatusListToken,
    TokenVerifier,
    VerificationKey,
    VerifiedToken,
    verify_status_list_token,
)
from gateway.exchange._http import FetchFailed, Refused, TooLarge, Transient, get_limited
from gateway.exchange.errors import InvalidToken, JwksInvalid, JwksUnavailable, UnknownKey
from gateway.services.operations.metrics import record_jwks_fetch

__all__ = [
    "PartnerKeys",
    "StatusListRejected",
    "StatusListUnavailable",
    "StatusListUntrusted",
    "TrustAnchor",
    "check_status_list_uri",
]

log = logging.getLogger(__name__)

_STATUS_ACCEPT: Final = "application/statuslist+jwt"
_MAX_STATUS_BYTES: Final = 1024 * 1024
_MAX_STATUS_ENTRIES: Final = 1024


class StatusListUnavailable(ServiceUnavailable):
    """The referenced status list could not be obtained; we refuse rather than assume VALID."""

    code = "status_list_unavailable"
    title = "The assertion's status list could not be fetched"


class StatusListRejected(ServiceUnavailable):
    """The issuer's status list was fetched but fails a check (``failed_check`` names it)."""

    code = "status_list_rejected"
    title = "The assertion's status list is not acceptable"
    status = 502


class StatusListUntrusted(PermissionDenied):
    """The assertion names a status list its issuer does not host; it is never fetched."""

    code = "status_list_untrusted"
    title = "The assertion's status list is not hosted by its issuer"


_DEFAULT_PORTS: Final[Mapping[str, int]] = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if not scheme or not host:
        return None
    return scheme, host.rstrip("."), port if port is not None else _DEFAULT_PORTS.get(scheme, -1)


def _non_public_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a DNS name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_status_list_uri(anchor: TrustAnchor, uri: str) -> None:
    """Refuse a status list ``uri`` that the anchor's issuer does not host (no network access).

    :raises StatusListUntrusted: another origin than the registered ``issuer`` and ``jwks_uri``,
        not https, or an IP literal that is not a public address.
    """
    origin = _origin(uri)
    if origin is None or origin[0] != "https":
        raise StatusListUntrusted("The status list uri is not an https URL.", check="scheme")
    if _non_public_ip(origin[1]):
        raise StatusListUntrusted("The status list uri names a non-public address.", check="address")
    allowed = {o for o in (_origin(anchor.issuer), _origin(anchor.jwks_uri or "")) if o is not None}
    if origin not in allowed:
        raise StatusListUntrusted(
            "The status list uri is not on the issuer's registered origin.", check="origin", issuer_partner=anchor.name
        )
    if "@" in urlsplit(uri).netloc or "\\" in uri:
        # Userinfo ("https://a%2f@host/…") is read differently by different URL parsers; an
        # issuer's list never needs it (issue 15).
        raise StatusListUntrusted("The status list uri carries user information.", check="userinfo")


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """How to verify one issuer's tokens. ``partner_id`` is ``None`` for this gateway itself."""

    issuer: str
    partner_id: str | None
    keys: Mapping[str, VerificationKey] | None = None
    jwks_uri: str | None = None

    @property
    def name(self) -> str:
        return self.partner_id or "self"


@dataclass(frozen=True, slots=True)
class _CachedList:
    token: StatusListToken
    until: float  # wall clock


def _named(error: GatewayError, anchor: TrustAnchor) -> GatewayError:
    """A copy of a key-set error that names the partner, so the caller knows whose keys failed."""
    return type(error)(error.detail, **{**error.extensions, "issuer_partner": anchor.name})


class PartnerKeys:
    """The per-process fetcher of issuers' keys and status lists.

    :param transport: an httpx transport for every fetch (``httpx.MockTransport`` in tests).
    :param now: a monotonic clock for the JWKS cache; ``wall`` is the epoch clock that token
        times (``exp``) are compared with.
    :param status_max_cache: the longest a status list is reused, whatever its ``ttl``.
    :param status_default_cache: reuse of a list that sets neither ``ttl`` nor ``exp``.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jwks_ttl: float = 300.0,
        refresh_cooldown: float = 30.0,
        max_stale: float = 3600.0,
        timeout: float = 3.0,
        attempts: int = 2,
        status_max_cache: float = 300.0,
        status_default_cache: float = 60.0,
    ) -> None:
        self._transport = transport
        self._now = now
        self._wall = wall
        self._sleep = sleep
        self._jwks_options: dict[str, Any] = {
            "ttl": jwks_ttl,
            "refresh_cooldown": refresh_cooldown,
            "max_stale": max_stale,
            "timeout": timeout,
            "attempts": attempts,
        }
        self._timeout = httpx.Timeout(timeout)
        self._attempts = attempts
        self._wait = wait_exponential_jitter(multiplier=0.2, max=1.0, jitter=0.2)
        self._status_max_cache = status_max_cache
        self._status_default_cache = status_default_cache
        # Built on first use: a CLI run that never verifies a partner token opens no HTTP client.
        self._client: httpx.AsyncClient | None = None
        self._jwks_client: JwksClient | None = None
        self._lists: OrderedDict[tuple[str, str], _CachedList] = OrderedDict()
        # One fetch at a time per issuer: the registry bounds the map, whatever uris tokens name.
        self._locks: dict[str, asyncio.Lock] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        return self._client

    @property
    def jwks(self) -> JwksClient:
        if self._jwks_client is None:
            self._jwks_client = JwksClient(
                client=self._http(),
                now=self._now,
                sleep=self._sleep,
                on_fetch=record_jwks_fetch,  # issue 13
                **self._jwks_options,
            )
        return self._jwks_client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._jwks_client = None

    # --- keys -----------------------------------------------------------------------------------

    async def verify(self, anchor: TrustAnchor, verifier: TokenVerifier, token: str) -> VerifiedToken:
        """Verify ``token`` with the anchor's keys (one refresh of a ``jwks_uri`` on an unknown kid).

        :raises InvalidToken: the token fails a check.
        :raises JwksUnavailable, JwksInvalid: no usable key set for a ``jwks_uri`` issuer.
        """
        if anchor.keys is not None:
            return verifier.verify(token, anchor.keys)
        assert anchor.jwks_uri is not None
        try:
            return await self.jwks.verify(verifier, token, anchor.jwks_uri)
        except (JwksUnavailable, JwksInvalid) as exc:
            raise _named(exc, anchor) from None

    async def _verify_keys(
        self, anchor: TrustAnchor, check: Callable[[Mapping[str, VerificationKey]], StatusListToken]
    ) -> StatusListToken:
        if anchor.keys is not None:
            return check(anchor.keys)
        assert anchor.jwks_uri is not None
        try:
            keys = await self.jwks.get_keys(anchor.jwks_uri)
        except (JwksUnavailable, JwksInvalid) as exc:
            raise _named(exc, anchor) from None
        try:
            return check(keys)
        except UnknownKey as exc:
            if exc.extensions.get("check") != "kid_unknown":
                raise
            refreshed = await self.jwks.refresh_for_unknown_kid(anchor.jwks_uri)
            if refreshed is None:
                raise
            return check(refreshed)

    # --- status lists -----------------------------------------------------------------------------

    async def status_list(self, anchor: TrustAnchor, uri: str, *, local_token: str | None = None) -> StatusListToken:
        """The verified status list at ``uri`` for a token of ``anchor``.

        ``local_token`` is a list this gateway just built for itself: verified, never fetched, and
        not cached here (its own service caches it).

        :raises StatusListUntrusted: ``uri`` is not on the issuer's origin (403, nothing fetched).
        :raises StatusListUnavailable: the list cannot be fetched (503).
        :raises StatusListRejected: the list fails a check (502), e.g. ``bad_signature``,
            ``subject_mismatch`` (``sub`` ≠ ``uri``), ``token_expired``.
        """
        if local_token is not None:
            return await self._checked(anchor, uri, local_token)
        check_status_list_uri(anchor, uri)
        key = (anchor.issuer, uri)
        cached = self._lists.get(key)
        if cached is not None and self._wall() < cached.until:
            return cached.token
        async with self._locks.setdefault(anchor.issuer, asyncio.Lock()):
            cached = self._lists.get(key)
            if cached is not None and self._wall() < cached.until:
                return cached.token
            self._lists.pop(key, None)
            fetched_at = self._wall()
            token = await self._checked(anchor, uri, await self._fetch(uri))
            until = token.cache_until(fetched_at)
            until = min(
                until if until is not None else fetched_at + self._status_default_cache,
                fetched_at + self._status_max_cache,
            )
            if until > self._wall():
                self._lists[key] = _CachedList(token, until)
                while len(self._lists) > _MAX_STATUS_ENTRIES:
                    self._lists.popitem(last=False)
            return token

    async def _checked(self, anchor: TrustAnchor, uri: str, token: str) -> StatusListToken:
        def check(keys: Mapping[str, VerificationKey]) -> StatusListToken:
            return verify_status_list_token(token, uri=uri, keys=keys, issuer=anchor.issuer, now=self._wall)

        try:
            return await self._verify_keys(anchor, check)
        except InvalidToken as exc:
            log.warning("status list of %s refused: %s", anchor.name, exc.code)
            raise StatusListRejected(
                "The issuer's status list fails a check.",
                failed_check=exc.code,
                check=exc.extensions.get("check"),
                issuer_partner=anchor.name,
            ) from None

    async def _fetch(self, uri: str) -> str:
        try:
            body = await get_limited(
                self._http(),
                uri,
                accept=_STATUS_ACCEPT,
                timeout=self._timeout,
                max_bytes=_MAX_STATUS_BYTES,
                attempts=self._attempts,
                wait=self._wait,
                sleep=self._sleep,
            )
        except Transient as exc:
            raise StatusListUnavailable("The status list could not be fetched.", reason=exc.reason) from None
        except Refused as exc:
            # What the upstream answered stays in our log, never in the problem.
            log.warning("status list fetch answered HTTP %d", exc.status)
            raise StatusListUnavailable("The status list could not be fetched.", reason="http_status") from None
        except TooLarge:
            raise StatusListRejected("The status list is too large.", failed_check="too_large") from None
        except FetchFailed as exc:
            raise StatusListUnavailable("The status list could not be fetched.", reason="http_error") from exc
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise StatusListRejected("The status list is not a compact JWS.", failed_check="token_malformed") from None
