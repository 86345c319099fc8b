"""Keys, JWKs and JWK Sets: RFC 7638 vectors, algorithm binding, PEM files, parse_jwks."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.errors import GatewayError
from gateway.exchange import (
    SigningKey,
    VerificationKey,
    generate_signing_key,
    jwk_thumbprint,
    jwks_document,
    load_signing_key,
    parse_jwks,
    read_signing_key,
    write_signing_key,
)
from gateway.exchange._b64 import b64url_encode
from gateway.exchange.errors import JwksInvalid, KeyMaterialError
from tests.exchange.exchange_support import load_vector


@pytest.mark.parametrize("case", load_vector("jwk-thumbprint.json")["cases"], ids=lambda c: c["name"])
def test_thumbprint_matches_rfc_vectors(case: dict[str, Any]) -> None:
    assert jwk_thumbprint(case["jwk"]) == case["thumbprint"]


def test_thumbprint_ignores_optional_and_depends_on_key_material() -> None:
    jwk = dict(load_vector("jwk-thumbprint.json")["cases"][1]["jwk"])
    base = jwk_thumbprint(jwk)
    assert jwk_thumbprint({**jwk, "kid": "x", "use": "sig", "alg": "EdDSA"}) == base
    assert jwk_thumbprint({**jwk, "x": jwk["x"][:-1] + "p"}) != base


@pytest.mark.parametrize(
    "jwk", [{"kty": "AKP"}, {"kty": "EC", "crv": "P-256", "x": "a"}, {"kty": "RSA", "n": 1, "e": "AQAB"}]
)
def test_thumbprint_rejects_incomplete_keys(jwk: dict[str, Any]) -> None:
    with pytest.raises(KeyMaterialError):
        jwk_thumbprint(jwk)


def test_fixed_test_keys_have_their_pinned_kids(test_keys: dict[str, SigningKey]) -> None:
    document = load_vector("test-keys.json")["keys"]
    for name, entry in document.items():
        assert test_keys[name].kid == entry["kid"]
        assert test_keys[name].alg == entry["alg"]
        assert test_keys[name].public_jwk() == entry["public_jwk"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
def test_generated_key_is_bound_and_kid_is_thumbprint(alg: str) -> None:
    key = generate_signing_key(alg)
    jwk = key.public_jwk()
    assert key.alg == alg and jwk["alg"] == alg and jwk["use"] == "sig"
    assert jwk["kid"] == key.kid == jwk_thumbprint(jwk)
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & jwk.keys()
    assert key.verification_key() == VerificationKey(key.kid, alg, key.private_key.public_key())


def test_default_generated_key_is_es256_on_p256() -> None:
    key = generate_signing_key()
    assert key.alg == "ES256"
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.private_key.curve, ec.SECP256R1)
    assert set(key.public_jwk()) == {"kty", "crv", "x", "y", "kid", "use", "alg"}


def test_generation_refuses_other_algorithms() -> None:
    for alg in ("HS256", "RS256", "none", "ES384"):
        with pytest.raises(KeyMaterialError):
            generate_signing_key(alg)


def test_a_key_is_bound_to_exactly_one_algorithm(test_keys: dict[str, SigningKey]) -> None:
    ec_public = test_keys["issuer-es256"].private_key.public_key()
    for alg in ("EdDSA", "PS256", "RS256", "HS256"):
        with pytest.raises(KeyMaterialError):
            VerificationKey("k", alg, ec_public)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(KeyMaterialError):
        VerificationKey("k", "ES256", p384.public_key())
    with pytest.raises(KeyMaterialError):
        SigningKey.from_private_key(test_keys["partner-eddsa"].private_key, "ES256")


def test_key_reprs_never_show_private_material(test_keys: dict[str, SigningKey]) -> None:
    key = test_keys["issuer-es256"]
    assert repr(key) == f"SigningKey(kid='{key.kid}', alg='ES256')"
    assert repr(key.verification_key()) == f"VerificationKey(kid='{key.kid}', alg='ES256')"


def test_load_refuses_garbage_unsupported_curves_and_small_rsa() -> None:
    with pytest.raises(KeyMaterialError):
        load_signing_key(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    p384 = ec.generate_private_key(ec.SECP384R1())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for private_key in (p384, small):
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with pytest.raises(KeyMaterialError):
            load_signing_key(pem)


def test_write_creates_0600_file_atomically_and_never_overwrites(tmp_path: Path) -> None:
    key = generate_signing_key()
    target = tmp_path / "signing.pem"
    write_signing_key(key, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert read_signing_key(target).kid == key.kid
    with pytest.raises(KeyMaterialError):
        write_signing_key(generate_signing_key(), target)
    assert read_signing_key(target).kid == key.kid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.pem"]


def test_write_with_password_round_trips(tmp_path: Path) -> None:
    key = generate_signing_key("EdDSA")
    target = tmp_path / "signing.pem"
    write_signing_key(key, target, password=b"correct horse")
    assert b"ENCRYPTED" in target.read_bytes()
    assert read_signing_key(target, password=b"correct horse").kid == key.kid
    with pytest.raises(KeyMaterialError):
        read_signing_key(target, password=b"wrong")
    with pytest.raises(KeyMaterialError):
        read_signing_key(tmp_path / "missing.pem")


def test_key_errors_belong_to_the_gateway_tree() -> None:
    assert issubclass(KeyMaterialError, GatewayError) and KeyMaterialError.status == 500


# --- parse_jwks -------------------------------------------------------------------------------


def _jwks(test_keys: dict[str, SigningKey], *names: str) -> dict[str, Any]:
    return jwks_document(test_keys[name] for name in names)


def test_parse_jwks_reads_published_keys(test_keys: dict[str, SigningKey]) -> None:
    parsed = parse_jwks(_jwks(test_keys, "issuer-es256", "partner-eddsa", "partner-ps256"))
    assert parsed.skipped == []
    for name in ("issuer-es256", "partner-eddsa", "partner-ps256"):
        assert parsed.keys[test_keys[name].kid] == test_keys[name].verification_key()


def test_parse_jwks_infers_the_single_algorithm_when_alg_is_absent(test_keys: dict[str, SigningKey]) -> None:
    doc = _jwks(test_keys, "issuer-es256", "partner-eddsa", "partner-ps256")
    for jwk in doc["keys"]:
        del jwk["alg"], jwk["use"]
    parsed = parse_jwks(doc)
    assert sorted(k.alg for k in parsed.keys.values()) == ["ES256", "EdDSA", "PS256"]


def _bad_keys(test_keys: dict[str, SigningKey]) -> list[tuple[dict[str, Any], str]]:
    ec_jwk = test_keys["issuer-es256"].public_jwk()
    ed_jwk = test_keys["partner-eddsa"].public_jwk()
    rsa_jwk = test_keys["partner-ps256"].public_jwk()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers()
    off_curve_y = b64url_encode((int.from_bytes(b"\x01" * 32, "big")).to_bytes(32, "big"))
    return [
        ({"kty": "AKP", "kid": "pq", "alg": "ML-DSA-44", "pub": "AAAA"}, "unsupported_kty"),
        ({**ec_jwk, "kid": None}, "missing_kid"),
        ({**ec_jwk, "kid": "enc", "use": "enc"}, "use_not_sig"),
        ({**ec_jwk, "kid": "ops", "key_ops": ["sign"]}, "key_ops_without_verify"),
        ({**ec_jwk, "kid": "p384", "crv": "P-384"}, "unsupported_crv"),
        ({**ed_jwk, "kid": "x25519", "crv": "X25519"}, "unsupported_crv"),
        ({**rsa_jwk, "kid": "rs256", "alg": "RS256"}, "alg_not_allowed"),
        ({**ec_jwk, "kid": "mismatch", "alg": "EdDSA"}, "alg_does_not_match_key"),
        ({**ec_jwk, "kid": "off-curve", "y": off_curve_y}, "invalid_material"),
        ({**ec_jwk, "kid": "padded", "x": ec_jwk["x"] + "="}, "invalid_material"),
        ({**ed_jwk, "kid": "short", "x": ed_jwk["x"][:20]}, "invalid_material"),
        (
            {
                "kty": "RSA",
                "kid": "small",
                "n": b64url_encode(small.n.to_bytes(128, "big")),
                "e": "AQAB",
            },
            "key_too_small",
        ),
    ]


def test_parse_jwks_skips_and_reports_unusable_keys(test_keys: dict[str, SigningKey]) -> None:
    good = test_keys["partner-eddsa"].public_jwk()
    for bad, reason in _bad_keys(test_keys):
        bad = {k: v for k, v in bad.items() if v is not None}
        parsed = parse_jwks({"keys": [bad, good]})
        assert list(parsed.keys) == [good["kid"]], reason
        assert [s.reason for s in parsed.skipped] == [reason]


def test_parse_jwks_honours_the_callers_allow_list(test_keys: dict[str, SigningKey]) -> None:
    parsed = parse_jwks(_jwks(test_keys, "issuer-es256", "partner-eddsa"), allowed_algs={"EdDSA"})
    assert list(parsed.keys) == [test_keys["partner-eddsa"].kid]
    assert parsed.skipped[0].reason == "alg_not_allowed"


def test_parse_jwks_drops_every_key_of_a_duplicated_kid(test_keys: dict[str, SigningKey]) -> None:
    first = test_keys["issuer-es256"].public_jwk()
    second = {**test_keys["client-es256"].public_jwk(), "kid": first["kid"]}
    parsed = parse_jwks({"keys": [first, second, test_keys["partner-eddsa"].public_jwk()]})
    assert first["kid"] not in parsed.keys
    assert [(s.kid, s.reason) for s in parsed.skipped] == [(first["kid"], "duplicate_kid")]


@pytest.mark.parametrize("doc", [None, [], "keys", {"keys": {}}, {"kid": "x"}, {"keys": [{}] * 101}])
def test_parse_jwks_refuses_what_is_not_a_jwk_set(doc: Any) -> None:
    with pytest.raises(JwksInvalid):
        parse_jwks(doc)


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_parse_jwks_refuses_a_set_with_private_members(test_keys: dict[str, SigningKey], member: str) -> None:
    doc = _jwks(test_keys, "issuer-es256", "partner-eddsa")
    doc["keys"][0][member] = "AAAA"
    with pytest.raises(JwksInvalid) as caught:
        parse_jwks(doc)
    assert caught.value.extensions["reason"] == "private_key_material"
    assert "AAAA" not in str(caught.value.extensions) + caught.value.detail


def test_published_document_never_contains_private_members(test_keys: dict[str, SigningKey]) -> None:
    doc = _jwks(test_keys, *test_keys)
    assert all(not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & jwk.keys() for jwk in doc["keys"])
    assert parse_jwks(doc).skipped == []
