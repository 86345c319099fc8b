"""sign(): the header is exactly {alg, kid, typ}, built from the key."""

from __future__ import annotations

import json
import math
from typing import Any

import jwt
import pytest

from gateway.exchange import TYP_SCORE_ASSERTION, SigningKey, sign
from gateway.exchange._b64 import b64url_decode


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


@pytest.mark.parametrize("name", ["issuer-es256", "partner-eddsa", "partner-ps256"])
def test_header_is_exactly_alg_kid_typ_and_signature_verifies(test_keys: dict[str, SigningKey], name: str) -> None:
    key = test_keys[name]
    token = sign({"iss": "https://a.example", "n": 1}, key, TYP_SCORE_ASSERTION)
    assert _header(token) == {"alg": key.alg, "kid": key.kid, "typ": TYP_SCORE_ASSERTION}
    public = key.private_key.public_key()
    assert jwt.PyJWS().decode(token, public, algorithms=[key.alg]) == b'{"iss":"https://a.example","n":1}'


def test_claims_cannot_smuggle_header_parameters(test_keys: dict[str, SigningKey]) -> None:
    token = sign({"alg": "none", "jku": "https://evil.example", "crit": ["x"]}, test_keys["issuer-es256"], "x+jwt")
    assert set(_header(token)) == {"alg", "kid", "typ"}
    assert _header(token)["alg"] == "ES256"


@pytest.mark.parametrize("typ", ["", "a b", "score assertion", "x/y/z", "jwt\n"])
def test_typ_must_be_a_media_type(test_keys: dict[str, SigningKey], typ: str) -> None:
    with pytest.raises(ValueError):
        sign({}, test_keys["issuer-es256"], typ)


def test_non_json_values_are_refused(test_keys: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError):
        sign({"score": math.nan}, test_keys["issuer-es256"], "x+jwt")
    with pytest.raises(TypeError):
        sign({"when": object()}, test_keys["issuer-es256"], "x+jwt")
    with pytest.raises(ValueError):
        sign({1: "x"}, test_keys["issuer-es256"], "x+jwt")  # type: ignore[dict-item]


def test_payload_is_compact_utf8_json(test_keys: dict[str, SigningKey]) -> None:
    token = sign({"label": {"zh": "绍兴市"}}, test_keys["issuer-es256"], "x+jwt")
    assert b64url_decode(token.split(".")[1]) == '{"label":{"zh":"绍兴市"}}'.encode()
