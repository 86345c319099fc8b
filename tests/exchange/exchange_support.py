"""Helpers for the exchange tests: fixed keys, a settable clock, token builders.

A uniquely named module (not ``conftest``) so test modules can import its types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jwt.algorithms import get_default_algorithms

from gateway.exchange import TYP_SCORE_ASSERTION, SigningKey, VerificationKey, load_signing_key, sign
from gateway.exchange._b64 import b64url_encode

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "exchange"
# A fixed instant for the injected clock; tests only ever reason relative to it.
START = 1_767_225_600.0
ISSUER = "https://score-gateway.shaoxing.example"
AUDIENCE = "https://bank.example/credit"


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


class Tokens:
    """Builds honest and forged tokens with the fixed test keys."""

    def __init__(self, keys: Mapping[str, SigningKey], clock: Clock) -> None:
        self.keys = keys
        self.clock = clock

    def key_set(self, *names: str) -> dict[str, VerificationKey]:
        return {self.keys[n].kid: self.keys[n].verification_key() for n in names}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = load_vector("score-assertion-claims.json")
        claims.update(iat=now, nbf=now, exp=now + 600, score_as_of=now - 3600, iss=ISSUER, aud=AUDIENCE)
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(self, claims: Mapping[str, Any], key: str = "issuer-es256", typ: str = TYP_SCORE_ASSERTION) -> str:
        return sign(claims, self.keys[key], typ)

    def forge(self, header: Mapping[str, Any], claims: Mapping[str, Any], key: str = "issuer-es256") -> str:
        """Sign with a real key but an arbitrary header; a ``None`` header value removes it.

        Built by hand (not PyJWT's encoder) so that headers PyJWT would refuse to emit, such as
        a non-string ``kid``, can still be produced.
        """
        signing_key = self.keys[key]
        merged = {"alg": signing_key.alg, "kid": signing_key.kid, "typ": TYP_SCORE_ASSERTION, **header}
        merged = {name: value for name, value in merged.items() if value is not None}
        signing_input = ".".join(b64url_encode(json.dumps(part).encode()) for part in (merged, dict(claims))).encode()
        algorithm = get_default_algorithms()[str(merged.get("alg", signing_key.alg))]
        signature = algorithm.sign(signing_input, algorithm.prepare_key(signing_key.private_key))
        return signing_input.decode() + "." + b64url_encode(signature)

    @staticmethod
    def raw(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"\x00" * 64) -> str:
        parts = [json.dumps(dict(header)).encode(), json.dumps(dict(claims)).encode(), signature]
        return ".".join(b64url_encode(part) for part in parts)


def load_test_keys() -> dict[str, SigningKey]:
    document = load_vector("test-keys.json")
    return {name: load_signing_key((VECTORS / entry["file"]).read_bytes()) for name, entry in document["keys"].items()}
