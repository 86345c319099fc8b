"""Key Binding JWTs (RFC 9901 §4.3): the holder proves possession of the credential's ``cnf`` key.

A KB-JWT has header ``{"alg", "typ": "kb+jwt"}`` and claims ``iat``, ``aud`` (the verifier),
``nonce`` and ``sd_hash`` (the digest of exactly the SD-JWT it was sent with). The verifier picks
the algorithm from the ``cnf`` key, never from the token; ``iat`` must be within a window that the
caller sets (a few minutes online, 120 s for an offline QR code).
"""

from __future__ import annotations

import functools
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any, Final

import jwt

from gateway.exchange._b64 import b64url_decode
from gateway.exchange.errors import (
    AlgorithmNotAllowed,
    ForbiddenHeader,
    InvalidClaim,
    InvalidToken,
    KeyBindingAudienceMismatch,
    KeyBindingNonceMismatch,
    KeyBindingSignatureInvalid,
    KeyBindingStale,
    KeyBindingTypeMismatch,
    MissingClaim,
    PresentationMalformed,
    SdHashMismatch,
)
from gateway.exchange.keys import SigningKey, VerificationKey, _parse_jwk
from gateway.exchange.sd_jwt import sd_hash
from gateway.exchange.verify import media_type

__all__ = ["HOLDER_ALGORITHMS", "TYP_KB_JWT", "holder_key_from_cnf", "make_kb_jwt", "verify_kb_jwt"]

TYP_KB_JWT: Final = "kb+jwt"
HOLDER_ALGORITHMS: Final = frozenset({"ES256", "EdDSA"})
_KIND: Final = "kb_jwt"
_JWS: Final = jwt.PyJWS(options={"enforce_minimum_key_length": True})
_FORBIDDEN: Final = ("jku", "x5u", "jwk", "x5c", "crit")


def make_kb_jwt(presented: str, holder: SigningKey, *, aud: str, nonce: str, iat: int) -> str:
    """The holder's KB-JWT for ``presented`` (the SD-JWT ending in ``~``)."""
    claims = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(presented)}
    payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
    return _JWS.encode(payload, holder.private_key, algorithm=holder.alg, headers={"typ": TYP_KB_JWT})


def holder_key_from_cnf(cnf: Any) -> VerificationKey | None:
    """The holder's key from a ``cnf`` claim, or ``None`` when it is not a usable ``jwk``.

    Parsed keys are cached by their JSON text: a resident's key is checked (point on the curve)
    once per process, not at every presentation."""
    if not isinstance(cnf, Mapping) or not isinstance(cnf.get("jwk"), Mapping):
        return None
    jwk = cnf["jwk"]
    if not all(isinstance(v, str) for v in jwk.values()) or {"d", "p", "q", "k"} & jwk.keys():
        return None
    return _parse_holder_jwk(json.dumps(dict(jwk), sort_keys=True, separators=(",", ":")))


@functools.lru_cache(maxsize=4096)
def _parse_holder_jwk(text: str) -> VerificationKey | None:
    parsed = _parse_jwk({**json.loads(text), "kid": "cnf"}, HOLDER_ALGORITHMS)
    return parsed if isinstance(parsed, VerificationKey) else None


def _error(cls: type[InvalidToken], detail: str, **extensions: Any) -> InvalidToken:
    return cls(detail, token_kind=_KIND, **extensions)


def verify_kb_jwt(
    kb_jwt: str,
    holder: VerificationKey,
    *,
    presented: str,
    audience: str,
    nonce: str | None,
    now: float,
    max_age: float,
    max_skew: float = 10.0,
) -> Mapping[str, Any]:
    """Check the KB-JWT against the holder key, verifier id, nonce, clock and presented SD-JWT.

    ``nonce=None`` accepts any nonce string (offline mode: the caller cannot know it).
    Checks, in order: shape, forbidden headers, ``typ``, ``alg`` = the key's, signature, claims
    present, ``aud``, ``nonce``, ``iat`` within ``[now − max_age, now + max_skew]``, ``sd_hash``.
    """
    segments = kb_jwt.split(".")
    try:
        if len(segments) != 3:
            raise ValueError("not compact")
        header = json.loads(b64url_decode(segments[0]))
        if not isinstance(header, dict):
            raise ValueError("header not an object")
    except ValueError as exc:
        raise _error(PresentationMalformed, "The KB-JWT is not a compact JWS.", check="kb_jwt") from exc
    for name in _FORBIDDEN:
        if name in header:
            raise _error(ForbiddenHeader, "The KB-JWT carries a forbidden header.", header=name)
    typ = header.get("typ")
    if not isinstance(typ, str) or media_type(typ) != media_type(TYP_KB_JWT):
        raise _error(KeyBindingTypeMismatch, "The KB-JWT's typ is not kb+jwt.")
    if header.get("alg") != holder.alg:
        raise _error(AlgorithmNotAllowed, "The KB-JWT's alg is not the holder key's.", check="kb_alg")
    try:
        decoded = _JWS.decode_complete(kb_jwt, key=holder.key, algorithms=[holder.alg])
        claims = json.loads(decoded["payload"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise _error(KeyBindingSignatureInvalid, "The KB-JWT is not signed by the cnf key.") from exc
    if not isinstance(claims, dict):
        raise _error(PresentationMalformed, "The KB-JWT payload is not an object.", check="kb_payload")
    for name in ("iat", "aud", "nonce", "sd_hash"):
        if name not in claims:
            raise _error(MissingClaim, "The KB-JWT lacks a required claim.", claim=name)
    if not isinstance(claims["aud"], str) or claims["aud"] != audience:
        raise _error(KeyBindingAudienceMismatch, "The KB-JWT is meant for another verifier.")
    if not isinstance(claims["nonce"], str) or (
        nonce is not None and not hmac.compare_digest(claims["nonce"].encode(), nonce.encode())
    ):
        raise _error(KeyBindingNonceMismatch, "The KB-JWT's nonce is not the expected one.")
    iat = claims["iat"]
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise _error(InvalidClaim, "The KB-JWT's iat is not a number.", claim="iat")
    if not now - max_age <= iat <= now + max_skew:
        raise _error(KeyBindingStale, "The KB-JWT was not made just now.", max_age=max_age)
    if not isinstance(claims["sd_hash"], str) or not hmac.compare_digest(claims["sd_hash"], sd_hash(presented)):
        raise _error(SdHashMismatch, "The KB-JWT does not cover the presented SD-JWT.")
    return claims
