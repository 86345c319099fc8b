"""Hand-built JWTs for attack tests: any header, any algorithm, including ones no library emits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from jwt.algorithms import get_default_algorithms

from gateway.exchange import SigningKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _input(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    return f"{b64(json.dumps(dict(header)).encode())}.{b64(json.dumps(dict(claims)).encode())}".encode()


def forge(header: Mapping[str, Any], claims: Mapping[str, Any], key: SigningKey) -> str:
    """Sign with a real key under an arbitrary header (``alg`` must still match the key)."""
    merged = {"alg": key.alg, "kid": key.kid, **header}
    signing_input = _input(merged, claims)
    algorithm = get_default_algorithms()[key.alg]
    signature = algorithm.sign(signing_input, algorithm.prepare_key(key.private_key))
    return signing_input.decode() + "." + b64(signature)


def unsigned(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """``alg: none`` with an empty signature."""
    return _input({**header, "alg": "none"}, claims).decode() + "."


def hmac_signed(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """HS256 with an attacker-chosen secret, e.g. the victim's public key bytes."""
    signing_input = _input({**header, "alg": "HS256"}, claims)
    return signing_input.decode() + "." + b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
