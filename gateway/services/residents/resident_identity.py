"""Residents' real-name identity: ID tokens from the configured identity provider.

Measure 一(一) allows nothing to be computed, shown or disclosed without the resident's real-name
authentication, so every resident endpoint starts here. The gateway does not authenticate anyone
itself: it verifies an OpenID-Connect-style ID token of the real-name identity provider (or, in
development, of :mod:`gateway.services.residents.dev_idp`), reads the ID number and the name from it, and
keeps only their keyed hashes, the masked name and the birth date. The raw values live in a
local variable for the length of one call and are never logged, stored or put into an error.

The IdP's JWK Set is read once at construction, from a file or an https URL. A token naming an
unknown ``kid`` (the IdP rotated its keys) triggers one re-read, at most once per cool-down, so a
stream of forged ``kid`` values cannot turn the gateway into a flood against the IdP. Everything
here is synchronous: the API calls :meth:`ResidentAuthenticator.authenticate` from a threadpool.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import httpx

from gateway.config import Settings
from gateway.errors import ConfigurationError, GatewayError, InvalidResidentId, ServiceUnavailable
from gateway.exchange import TokenVerifier, VerificationKey, parse_jwks
from gateway.exchange.errors import InvalidClaim, InvalidToken, JwksInvalid, JwksUnavailable, UnknownKey
from gateway.privacy import Hasher, mask_name, normalise_name
from gateway.scoring.resident_id import parse_resident_id
from gateway.services.residents.dev_idp import DevIdentityProvider

__all__ = [
    "InvalidIdNumberClaim",
    "Resident",
    "ResidentAuthenticator",
    "ResidentIdpNotConfigured",
]

log = logging.getLogger(__name__)

ALGORITHMS: Final = frozenset({"ES256", "EdDSA", "PS256"})
MAX_LIFETIME: Final = 3600.0  # an ID token is a login, not a session: an hour at most
MAX_SKEW: Final = 30.0
REFRESH_COOLDOWN: Final = 30.0
FETCH_TIMEOUT: Final = 5.0
MAX_JWKS_BYTES: Final = 64 * 1024
MAX_NAME_LENGTH: Final = 64
_ACCEPT: Final = "application/jwk-set+json, application/json;q=0.9"
TOKEN_KIND: Final = "resident_id_token"  # noqa: S105  # a token kind, not a secret


class InvalidIdNumberClaim(InvalidToken):
    """A validly signed token whose ID number breaks GB 11643: still a failed login (401)."""

    code = "invalid_id_number_claim"
    title = "The identity provider's token carries an invalid ID number"


class ResidentIdpNotConfigured(ServiceUnavailable):
    code = "resident_idp_not_configured"
    title = "No real-name identity provider is configured"


@dataclass(frozen=True, slots=True, repr=False)
class Resident:
    """An authenticated resident, known only by keyed hashes (never the ID number or name)."""

    id_hash: str
    name_hash: str
    name_masked: str
    birth_date: date

    def __repr__(self) -> str:
        return "Resident(<redacted>)"


@dataclass(frozen=True, slots=True)
class _Idp:
    issuer: str
    audience: str
    typ: str
    load: Callable[[], Mapping[str, VerificationKey]]
    remote: bool  # a URL may be down for a moment; a file or the dev IdP failing is a set-up error


def _parse(body: bytes) -> Mapping[str, VerificationKey]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JwksInvalid("The identity provider's key set is not JSON.", reason="not_json") from None
    parsed = parse_jwks(document, ALGORITHMS)
    for skipped in parsed.skipped:
        log.warning("resident IdP JWKS: skipped key %r (%s)", skipped.kid, skipped.reason)
    if not parsed.keys:
        raise JwksInvalid("The identity provider's key set has no usable key.", reason="no_usable_keys")
    return parsed.keys


def _file_loader(path: Path) -> Callable[[], Mapping[str, VerificationKey]]:
    def load() -> Mapping[str, VerificationKey]:
        try:
            with path.open("rb") as handle:
                body = handle.read(MAX_JWKS_BYTES + 1)
        except OSError:
            raise JwksUnavailable("The identity provider's key set file cannot be read.") from None
        if len(body) > MAX_JWKS_BYTES:
            raise JwksInvalid("The identity provider's key set is too large.", reason="too_large")
        return _parse(body)

    return load


def _url_loader(url: str, transport: httpx.BaseTransport | None) -> Callable[[], Mapping[str, VerificationKey]]:
    def load() -> Mapping[str, VerificationKey]:
        try:
            with (
                httpx.Client(transport=transport, follow_redirects=False, timeout=FETCH_TIMEOUT) as client,
                client.stream("GET", url, headers={"Accept": _ACCEPT}) as r,
            ):
                if r.status_code != 200:
                    log.warning("identity provider JWKS answered HTTP %d", r.status_code)
                    raise JwksUnavailable("The identity provider's key set could not be fetched.", reason="http_status")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksInvalid("The identity provider's key set is too large.", reason="too_large")
        except httpx.HTTPError:
            raise JwksUnavailable("The identity provider's key set could not be fetched.", reason="transport") from None
        return _parse(bytes(body))

    return load


def _configured_idp(settings: Settings, transport: httpx.BaseTransport | None) -> _Idp | None:
    if settings.dev_idp_enabled:
        dev = DevIdentityProvider(settings)
        return _Idp(dev.issuer, dev.audience, dev.typ, lambda: _parse(json.dumps(dev.jwks()).encode()), False)
    issuer, jwks, audience = (
        settings.resident_idp_issuer,
        settings.resident_idp_jwks,
        settings.resident_idp_audience,
    )
    if issuer is None and jwks is None and audience is None:
        return None
    if not (issuer and jwks and audience):
        raise ConfigurationError(
            "The resident identity provider needs an issuer, a JWKS location and an audience together."
        )
    if jwks.startswith("https://"):
        return _Idp(issuer, audience, settings.resident_idp_typ, _url_loader(jwks, transport), True)
    if "://" in jwks:
        raise ConfigurationError("The resident IdP's JWKS must be a file path or an https URL.")
    path = Path(jwks).expanduser().resolve()
    return _Idp(issuer, audience, settings.resident_idp_typ, _file_loader(path), False)


class ResidentAuthenticator:
    """Verifies residents' ID tokens. Build once per process (the key set is read here).

    :param transport: an ``httpx`` transport for fetching a JWKS URL (tests inject a mock).
    :param now: the clock for token times; ``monotonic`` times the refresh cool-down.
    :raises ConfigurationError: the IdP settings are incomplete, or its key file (or the
        development IdP's key) is unusable.
    """

    def __init__(
        self,
        settings: Settings,
        hasher: Hasher,
        *,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_cooldown: float = REFRESH_COOLDOWN,
    ) -> None:
        self._settings = settings
        self._hasher = hasher
        self._monotonic = monotonic
        self._cooldown = refresh_cooldown
        self._lock = threading.Lock()
        self._keys: Mapping[str, VerificationKey] = {}
        self._attempted_at: float | None = None
        self._idp = _configured_idp(settings, transport)
        self._verifier: TokenVerifier | None = None
        if self._idp is None:
            # Settings.from_env refuses this in production; a hand-built Settings can still get here.
            log.warning("no resident identity provider is configured: resident endpoints answer 503")
            return
        self._verifier = TokenVerifier(
            typ=self._idp.typ,
            audience=self._idp.audience,
            issuer=self._idp.issuer,
            algorithms=ALGORITHMS,
            required_claims=frozenset(
                {"exp", "iat", "iss", "aud", "sub"} | {settings.resident_idp_id_claim, settings.resident_idp_name_claim}
            ),
            max_skew=MAX_SKEW,
            max_lifetime=MAX_LIFETIME,
            kind=TOKEN_KIND,
            now=now,
        )
        self._attempted_at = monotonic()
        try:
            self._keys = self._idp.load()
        except GatewayError as exc:
            if not self._idp.remote:
                raise ConfigurationError("The resident identity provider's key set is not usable.") from exc
            # An IdP that is down for a moment must not stop ingestion and officers from starting.
            log.warning("resident IdP JWKS could not be fetched at start (%s); retrying on demand", exc.code)

    def __repr__(self) -> str:
        return "ResidentAuthenticator(<configured>)" if self._idp else "ResidentAuthenticator(<none>)"

    @property
    def issuer(self) -> str | None:
        return self._idp.issuer if self._idp else None

    def authenticate(self, id_token: str) -> Resident:
        """Verify ``id_token`` and return the resident it names.

        :raises InvalidToken: (401) a subclass naming the failed check, or
            ``invalid_id_number_claim`` when a validly signed token carries an invalid number.
        :raises JwksUnavailable: (503) the IdP's key set could not be had at all.
        :raises ResidentIdpNotConfigured: (503) no identity provider is configured.
        """
        if self._verifier is None:
            raise ResidentIdpNotConfigured("Residents cannot log in: no identity provider is configured.")
        try:
            return self._resident(self._verify(self._verifier, id_token))
        except InvalidToken as exc:
            log.info("resident ID token refused: %s", exc.code)
            raise

    def authenticate_sign_in(self, id_token: str, nonce: str) -> Resident:
        """issue 11: the same checks for the ID token of a page sign-in (code flow), plus its nonce.

        :raises InvalidToken: as :meth:`authenticate`; ``nonce`` when the token is not this sign-in's.
        """
        if self._verifier is None:
            raise ResidentIdpNotConfigured("Residents cannot log in: no identity provider is configured.")
        try:
            claims = self._verify(self._verifier, id_token)
            if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(str(claims["nonce"]), nonce):
                raise InvalidClaim("The ID token is not this sign-in's.", token_kind=TOKEN_KIND, claim="nonce")
            return self._resident(claims)
        except InvalidToken as exc:
            log.info("resident sign-in ID token refused: %s", exc.code)
            raise

    def _verify(self, verifier: TokenVerifier, token: str) -> Mapping[str, Any]:
        keys = self._keys
        if not keys:
            keys = self._refresh(keys) or {}
            if not keys:
                raise JwksUnavailable("The identity provider's key set is not available.", reason="no_keys")
        try:
            return verifier.verify(token, keys).claims
        except UnknownKey as exc:
            if exc.extensions.get("check") != "kid_unknown":
                raise
            refreshed = self._refresh(keys)
            if refreshed is None:
                raise
            return verifier.verify(token, refreshed).claims

    def _refresh(self, stale: Mapping[str, VerificationKey]) -> Mapping[str, VerificationKey] | None:
        """Re-read the key set, at most once per cool-down; ``None`` when nothing new was had."""
        assert self._idp is not None
        with self._lock:
            if self._keys is not stale:
                return self._keys  # another thread refreshed while this one waited
            now = self._monotonic()
            if self._attempted_at is not None and now - self._attempted_at < self._cooldown:
                return None
            self._attempted_at = now
            try:
                self._keys = self._idp.load()
            except GatewayError as exc:
                # Keep serving the keys we have: a failed refresh must not log everybody out.
                log.warning("resident IdP JWKS refresh failed: %s", exc.code)
                return None
            return self._keys

    def _resident(self, claims: Mapping[str, Any]) -> Resident:
        id_claim = self._settings.resident_idp_id_claim
        name_claim = self._settings.resident_idp_name_claim
        raw_id, raw_name = claims[id_claim], claims[name_claim]  # required by the verifier
        if not isinstance(raw_id, str):
            raise InvalidClaim("The ID number claim is not a string.", token_kind=TOKEN_KIND, claim=id_claim)
        try:
            rid = parse_resident_id(raw_id)
        except InvalidResidentId as exc:
            raise InvalidIdNumberClaim(
                "The identity provider vouched for an ID number that is not valid under GB 11643-1999.",
                token_kind=TOKEN_KIND,
                claim=id_claim,
                reason=exc.reason,
            ) from None
        if (
            not isinstance(raw_name, str)
            or not normalise_name(raw_name)
            or len(normalise_name(raw_name)) > MAX_NAME_LENGTH
        ):
            raise InvalidClaim("The name claim is not a usable name.", token_kind=TOKEN_KIND, claim=name_claim)
        return Resident(
            id_hash=self._hasher.id_hash(rid.normalised),
            name_hash=self._hasher.name_hash(raw_name),
            name_masked=mask_name(raw_name),
            birth_date=rid.birth_date,
        )
