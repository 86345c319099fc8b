"""Producing compact JWS (RFC 7515) JWTs with our own keys.

The protected header is always exactly ``{"alg", "kid", "typ"}`` and built from the
:class:`~gateway.exchange.keys.SigningKey`: the algorithm comes from the key's binding, never
from the caller, and no header that lets a verifier fetch or embed a key (``jku``, ``x5u``,
``jwk``, ``x5c``) or demand an extension (``crit``) can ever be emitted — our own verifier
rejects all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import jwt

from gateway.exchange._b64 import b64url_decode, b64url_encode
from gateway.exchange.keys import SigningKey

__all__ = ["P256_ORDER", "is_high_s", "low_s_token", "sign"]

# RFC 6838 §4.2 restricted-name characters, optionally "type/subtype".
_MEDIA_TYPE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})?")
# Refuse keys that are too short instead of warning (pytest turns warnings into errors anyway).
_JWS: Final = jwt.PyJWS(options={"enforce_minimum_key_length": True})


def sign(claims: Mapping[str, Any], key: SigningKey, typ: str) -> str:
    """Sign ``claims`` with ``key`` as a compact JWS whose header is ``{alg, kid, typ}``.

    ``typ`` is the explicit type of the token kind (RFC 8725 §3.11), e.g.
    ``"score-assertion+jwt"`` or ``"statuslist+jwt"``. Claims are serialised as compact JSON;
    NaN and infinities are refused because they are not JSON.

    :raises ValueError: ``typ`` is not a media type, or ``claims`` is not a JSON object with
        string member names.
    :raises TypeError: a claim value is not JSON-serialisable.
    """
    if not isinstance(typ, str) or not _MEDIA_TYPE.fullmatch(typ):
        raise ValueError("typ must be a media type such as 'statuslist+jwt'")
    if not isinstance(claims, Mapping) or not all(isinstance(name, str) for name in claims):
        raise ValueError("claims must be a mapping with string names")
    payload = json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    token = _JWS.encode(
        payload.encode("utf-8"),
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": typ},
    )
    return low_s_token(token) if key.alg == "ES256" else token


# The order of the P-256 group: an ECDSA signature (r, s) verifies exactly as (r, n - s) does.
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def is_high_s(signature: bytes) -> bool:
    """Whether a raw ES256 signature (r ‖ s, 64 bytes) has s above n/2."""
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") > P256_ORDER // 2


def low_s_token(token: str) -> str:
    """The token with its ES256 signature in low-S form (issue 15): the gateway emits exactly one
    encoding of each signature, so its verifiers can refuse the other one."""
    head, payload, sig = token.split(".")
    raw = b64url_decode(sig)
    if not is_high_s(raw):
        return token
    s = P256_ORDER - int.from_bytes(raw[32:], "big")
    return f"{head}.{payload}.{b64url_encode(raw[:32] + s.to_bytes(32, 'big'))}"
