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

from gateway.exchange.keys import SigningKey

__all__ = ["sign"]

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
    return _JWS.encode(
        payload.encode("utf-8"),
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": typ},
    )
