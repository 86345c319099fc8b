"""Verifying compact-JWS JWTs: one :class:`TokenVerifier` per token kind (RFC 8725 §3.11–3.12).

Checks run in a fixed order and each failure has its own error class (``errors.py``):

1. size limit and compact-JWS shape, strict base64url, JSON objects without duplicate members
   → ``token_malformed``;
2. ``jku``/``x5u``/``jwk``/``x5c`` in the header → ``forbidden_header`` (the token never names
   its own key, RFC 8725 §3.10);
3. ``crit`` present → ``unsupported_critical_header`` (we understand no extension);
4. ``typ`` against the expected media type, case-insensitively and with an optional
   ``application/`` prefix (RFC 7515 §4.1.9) → ``token_type_mismatch``;
5. ``alg`` against the allow-list ⊆ {ES256, EdDSA, PS256} → ``algorithm_not_allowed``;
6. ``kid`` missing or not in the key set → ``unknown_key`` (callers may refresh the JWKS once);
7. the key's bound algorithm differs from ``alg`` → ``algorithm_not_allowed``;
8. signature, by PyJWT with ``algorithms=[key.alg]`` and the key *object* → ``bad_signature``;
9. claims, with the injected clock: required claims, claim types, ``exp``, ``nbf``, ``iat``,
   lifetime, ``iss`` (exact string), ``aud`` (one string, exactly equal — an array is refused
   even if it contains us, after the 2025 audience-injection findings).

``exp`` gets no leeway (RFC 7519 §4.1.4: now must be before it); ``nbf`` and ``iat`` may be up
to ``max_skew`` seconds ahead of our clock (default 10 s, never more than 60 s: FAPI 2.0
§5.3.2.1). PyJWT's own claim checks are not used: it only verifies the signature here, so there
is exactly one clock and one set of rules.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jwt

from gateway import jsonparse
from gateway.errors import ConfigurationError, MalformedBody
from gateway.exchange._b64 import b64url_decode
from gateway.exchange.errors import (
    AlgorithmNotAllowed,
    AudienceMismatch,
    BadSignature,
    ForbiddenHeader,
    InvalidClaim,
    InvalidToken,
    IssuerMismatch,
    LifetimeTooLong,
    MissingClaim,
    TokenExpired,
    TokenIssuedInFuture,
    TokenMalformed,
    TokenNotYetValid,
    TokenTypeMismatch,
    UnknownKey,
    UnsupportedCriticalHeader,
)
from gateway.exchange.jws import is_high_s
from gateway.exchange.keys import SUPPORTED_ALGORITHMS, VerificationKey

__all__ = [
    "DEFAULT_MAX_SKEW",
    "MAX_SKEW_CEILING",
    "MAX_TOKEN_BYTES",
    "TYP_CLIENT_ASSERTION",
    "TYP_SCORE_ASSERTION",
    "TYP_STATUS_LIST",
    "TokenVerifier",
    "UnverifiedToken",
    "VerifiedToken",
    "media_type",
]

TYP_SCORE_ASSERTION: Final = "score-assertion+jwt"
TYP_CLIENT_ASSERTION: Final = "client-authentication+jwt"
TYP_STATUS_LIST: Final = "statuslist+jwt"
MAX_TOKEN_BYTES: Final = 16 * 1024
DEFAULT_MAX_SKEW: Final = 10.0
MAX_SKEW_CEILING: Final = 60.0
_FORBIDDEN_HEADERS: Final = ("jku", "x5u", "jwk", "x5c")
_MAX_KID_LENGTH: Final = 256
_MAX_SEGMENT_BYTES: Final = 1024 * 1024  # the largest token a verifier may be configured for
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")
_MEDIA_TYPE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})?")
_STRING_CLAIMS: Final = ("iss", "sub", "jti")
_TIME_CLAIMS: Final = ("exp", "nbf", "iat")
# PyJWT verifies the signature only; it refuses short keys instead of warning about them.
_JWS: Final = jwt.PyJWS(options={"enforce_minimum_key_length": True})

logger = logging.getLogger(__name__)


def media_type(typ: str) -> str:
    """The comparable form of a ``typ`` value: lower case, ``application/`` added if no ``/``."""
    lowered = typ.lower()
    return lowered if "/" in lowered else "application/" + lowered


def _json_object(data: bytes) -> dict[str, Any] | None:
    # The gateway's one bounded parser: depth and size bounded, duplicates refused, no recursion.
    try:
        value = jsonparse.loads(data, max_bytes=_MAX_SEGMENT_BYTES)
    except MalformedBody:
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims passed every check."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """Header and claims of a token whose header passed the checks but whose signature did not
    run yet. Use the claims only to choose keys (e.g. ``iss`` of a client assertion)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class TokenVerifier:
    """Verifies one kind of token. Configure once, reuse for every request.

    :param typ: expected ``typ`` media type, e.g. :data:`TYP_SCORE_ASSERTION`.
    :param audience: the one ``aud`` string accepted; ``None`` means the token must carry no
        ``aud`` at all (status list tokens).
    :param algorithms: allowed ``alg`` values, a non-empty subset of ES256, EdDSA, PS256.
    :param issuer: the exact ``iss`` required, or ``None`` to leave ``iss`` to the caller.
    :param required_claims: claims that must be present; ``aud``/``iss`` are added when an
        audience/issuer is configured and ``exp`` when ``max_lifetime`` is.
    :param max_skew: seconds ``nbf``/``iat`` may be ahead of our clock (0–60, default 10).
    :param max_lifetime: largest accepted ``exp − iat`` (``exp − now`` without ``iat``).
    :param kind: a short name of the token kind, put in every error (``token_kind``).
    :param refuse_high_s: refuse ES256 signatures whose S is above n/2 (``bad_signature``, check
        ``high_s``). For the gateway's own tokens, which it signs in low-S form only; partners'
        libraries rarely normalise, so their tokens are accepted in either form — a high-S twin
        is the same token for every purpose (same ``jti``, consumed once by the replay cache).
    :param now: the clock, seconds since the epoch.
    :raises gateway.errors.ConfigurationError: for any value outside these bounds.
    """

    typ: str
    audience: str | None
    algorithms: Collection[str] = frozenset({"ES256"})
    issuer: str | None = None
    required_claims: Collection[str] = frozenset({"exp", "iat"})
    max_skew: float = DEFAULT_MAX_SKEW
    max_lifetime: float | None = None
    max_token_bytes: int = MAX_TOKEN_BYTES
    kind: str = "token"
    refuse_high_s: bool = False
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.typ, str) or not _MEDIA_TYPE.fullmatch(self.typ):
            raise ConfigurationError("A token verifier needs a media type as typ.")
        algorithms = frozenset(self.algorithms)
        if not algorithms or not algorithms <= SUPPORTED_ALGORITHMS:
            # none, HS*, RS256 and friends can never be configured (RFC 8725 §3.2, FAPI 2.0 §5.4).
            raise ConfigurationError("Allowed algorithms must be a non-empty subset of ES256, EdDSA, PS256.")
        if not 0 <= self.max_skew <= MAX_SKEW_CEILING:
            raise ConfigurationError("The clock skew must be between 0 and 60 seconds.")
        if self.max_lifetime is not None and self.max_lifetime <= 0:
            raise ConfigurationError("The maximum lifetime must be positive.")
        if not 0 < self.max_token_bytes <= 1024 * 1024:
            raise ConfigurationError("The token size limit must be between 1 byte and 1 MiB.")
        for value in (self.audience, self.issuer):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError("Audience and issuer must be non-empty strings.")
        required = set(self.required_claims)
        required |= {"aud"} if self.audience is not None else set()
        required |= {"iss"} if self.issuer is not None else set()
        required |= {"exp"} if self.max_lifetime is not None else set()
        object.__setattr__(self, "algorithms", algorithms)
        object.__setattr__(self, "required_claims", frozenset(required))

    def _error(self, cls: type[InvalidToken], detail: str, **extensions: Any) -> InvalidToken:
        return cls(detail, token_kind=self.kind, **extensions)

    def inspect(self, token: str) -> UnverifiedToken:
        """Run the shape and header checks (1–5) and return the *unverified* header and claims.

        :raises InvalidToken: ``token_malformed``, ``forbidden_header``,
            ``unsupported_critical_header``, ``token_type_mismatch``, ``algorithm_not_allowed``.
        """
        header, payload_segment = self._check_header(token)
        claims = _json_object(b64url_decode(payload_segment))
        if claims is None:
            raise self._error(TokenMalformed, "The token payload is not a JSON object.", check="payload")
        return UnverifiedToken(header, claims)

    def verify(self, token: str, keys: Mapping[str, VerificationKey]) -> VerifiedToken:
        """Verify ``token`` against ``keys`` (``{kid: VerificationKey}``, parsed beforehand).

        :raises InvalidToken: a subclass naming the first check that failed (module docstring).
        """
        header, _ = self._check_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
            raise self._error(UnknownKey, "The token names no usable key id.", check="kid_missing")
        # kid is only ever a lookup key into a set we parsed ourselves (RFC 8725 §3.10).
        key = keys.get(kid)
        if key is None:
            raise self._error(UnknownKey, "The token's key id is not in the key set.", check="kid_unknown")
        if key.alg != header["alg"]:
            raise self._error(AlgorithmNotAllowed, "The key is bound to another algorithm.", check="key_algorithm")
        if self.refuse_high_s and key.alg == "ES256" and is_high_s(b64url_decode(token.rsplit(".", 1)[1])):
            raise self._error(BadSignature, "The signature is not in low-S form.", check="high_s")
        try:
            decoded = _JWS.decode_complete(token, key=key.key, algorithms=[key.alg])
        except jwt.InvalidSignatureError as exc:
            raise self._error(BadSignature, "The signature does not verify.", check="signature") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise self._error(AlgorithmNotAllowed, "PyJWT refused the algorithm.", check="signature") from exc
        except jwt.DecodeError as exc:
            raise self._error(TokenMalformed, "The token could not be decoded.", check="signature") from exc
        except jwt.PyJWTError as exc:
            raise self._error(BadSignature, "The signature could not be verified.", check="signature") from exc
        claims = _json_object(decoded["payload"])
        if claims is None:
            raise self._error(TokenMalformed, "The token payload is not a JSON object.", check="payload")
        self._check_claims(claims)
        return VerifiedToken(header, claims)

    def _check_header(self, token: str) -> tuple[dict[str, Any], str]:
        if not isinstance(token, str) or len(token) > self.max_token_bytes:
            raise self._error(TokenMalformed, "The token is not a string within the size limit.", check="size")
        segments = token.split(".")
        if len(segments) != 3 or not all(_SEGMENT.fullmatch(segment) for segment in segments):
            raise self._error(TokenMalformed, "The token is not a compact JWS.", check="compact_serialization")
        try:
            header = _json_object(b64url_decode(segments[0]))
            b64url_decode(segments[1])
            b64url_decode(segments[2])
        except ValueError as exc:
            raise self._error(TokenMalformed, "A token segment is not base64url.", check="base64url") from exc
        if header is None:
            raise self._error(TokenMalformed, "The token header is not a JSON object.", check="header")
        for name in _FORBIDDEN_HEADERS:
            if name in header:
                raise self._error(ForbiddenHeader, "The token names or embeds its own key.", header=name)
        if "crit" in header:
            raise self._error(UnsupportedCriticalHeader, "The token declares a critical extension.")
        typ = header.get("typ")
        if not isinstance(typ, str) or media_type(typ) != media_type(self.typ):
            raise self._error(TokenTypeMismatch, "The token is not of the expected type.", expected_typ=self.typ)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise self._error(
                AlgorithmNotAllowed,
                "The token's algorithm is not allowed.",
                check="allow_list",
                allowed_algorithms=sorted(self.algorithms),
            )
        return header, segments[1]

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        now = self.now()
        for name in sorted(self.required_claims):
            if name not in claims:
                raise self._error(MissingClaim, "A required claim is missing.", claim=name)
        for name in _STRING_CLAIMS:
            if name in claims and not isinstance(claims[name], str):
                raise self._error(InvalidClaim, "A claim is not a string.", claim=name)
        times: dict[str, float | None] = {}
        for name in _TIME_CLAIMS:
            times[name] = _number(claims[name]) if name in claims else None
            if name in claims and times[name] is None:
                raise self._error(InvalidClaim, "A time claim is not a number.", claim=name)
        exp, nbf, iat = times["exp"], times["nbf"], times["iat"]
        if exp is not None and now >= exp:
            raise self._error(TokenExpired, "The token has expired.")
        if nbf is not None and nbf > now + self.max_skew:
            raise self._error(TokenNotYetValid, "The token is not valid yet.", max_skew=self.max_skew)
        if iat is not None and iat > now + self.max_skew:
            raise self._error(TokenIssuedInFuture, "The token was issued in the future.", max_skew=self.max_skew)
        if iat is not None and iat > now:
            # Accepted, but a partner whose clock runs ahead should be visible in the logs.
            logger.info("accepted %s issued %.1f s ahead of our clock", self.kind, iat - now)
        if self.max_lifetime is not None and exp is not None:
            start = iat if iat is not None else now
            if exp - start > self.max_lifetime:
                raise self._error(LifetimeTooLong, "The token is valid for too long.", max_lifetime=self.max_lifetime)
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise self._error(IssuerMismatch, "The token was issued by someone else.")
        aud = claims.get("aud")
        if self.audience is None:
            if "aud" in claims:
                raise self._error(AudienceMismatch, "This kind of token takes no audience.", check="unexpected")
        elif not isinstance(aud, str):
            raise self._error(AudienceMismatch, "The audience must be a single string.", check="not_a_string")
        elif aud != self.audience:
            raise self._error(AudienceMismatch, "The token is meant for another audience.", check="value")
