"""OpenID4VCI 1.0 key proofs (``openid4vci-proof+jwt``, appendix F.1): the wallet shows it holds
the key the credential will be bound to.

Here, unlike every other JWT we accept, the header *must* carry the key (``jwk``): it is the key
being proven, not a key we are asked to trust. ``kid``, ``x5c``, ``jku``, ``x5u``, ``crit`` and
``trust_chain`` are refused; the algorithm is the key type's (ES256 for P-256, EdDSA for Ed25519).
The claims are ``aud`` = the credential issuer (one string), a fresh ``iat`` and ``nonce``; the
caller consumes the nonce (single use, in the database).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from gateway.exchange._b64 import b64url_decode
from gateway.exchange.kb_jwt import holder_key_from_cnf
from gateway.exchange.keys import SigningKey, VerificationKey, jwk_thumbprint

__all__ = ["TYP_KEY_PROOF", "InvalidProof", "KeyProof", "make_key_proof", "verify_key_proof"]

TYP_KEY_PROOF: Final = "openid4vci-proof+jwt"
_JWS: Final = jwt.PyJWS(options={"enforce_minimum_key_length": True})
_FORBIDDEN: Final = ("kid", "x5c", "jku", "x5u", "crit", "trust_chain")
MAX_PROOF_BYTES: Final = 4096


class InvalidProof(ValueError):
    """Why the proof was refused (a short check name); the service maps it to ``invalid_proof``."""


@dataclass(frozen=True, slots=True)
class KeyProof:
    jwk: Mapping[str, Any]  # the public key members as sent, to put in cnf
    key: VerificationKey
    thumbprint: str
    nonce: str


def make_key_proof(holder: SigningKey, *, aud: str, nonce: str, iat: int) -> str:
    """The wallet side (``gateway wallet`` and the tests)."""
    jwk = {k: v for k, v in holder.public_jwk().items() if k not in ("kid", "use", "alg")}
    payload = json.dumps({"aud": aud, "iat": iat, "nonce": nonce}, separators=(",", ":")).encode()
    return _JWS.encode(payload, holder.private_key, algorithm=holder.alg, headers={"typ": TYP_KEY_PROOF, "jwk": jwk})


def verify_key_proof(proof: str, *, audience: str, now: float, max_age: float = 300, max_skew: float = 10) -> KeyProof:
    """:raises InvalidProof: with the name of the failed check; the nonce is checked by the caller."""
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_BYTES or proof.count(".") != 2:
        raise InvalidProof("shape")
    try:
        header = json.loads(b64url_decode(proof.split(".")[0]))
    except ValueError as exc:
        raise InvalidProof("header") from exc
    if not isinstance(header, dict) or header.get("typ") != TYP_KEY_PROOF:
        raise InvalidProof("typ")
    if any(name in header for name in _FORBIDDEN):
        raise InvalidProof("forbidden_header")
    jwk = header.get("jwk")
    key = holder_key_from_cnf({"jwk": jwk})
    if key is None or not isinstance(jwk, dict):
        raise InvalidProof("jwk")
    if header.get("alg") != key.alg:
        raise InvalidProof("alg")
    try:
        claims = json.loads(_JWS.decode_complete(proof, key=key.key, algorithms=[key.alg])["payload"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidProof("signature") from exc
    if not isinstance(claims, dict) or claims.get("aud") != audience:
        raise InvalidProof("aud")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise InvalidProof("iat")
    if not now - max_age <= iat <= now + max_skew:
        raise InvalidProof("iat")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= 64:
        raise InvalidProof("nonce")
    public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")}
    return KeyProof(public, key, jwk_thumbprint(public), nonce)
