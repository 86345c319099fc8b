"""The offline credit code's compact form (``SXCC1:`` + Base45 of the zlib-compressed segments):
exact round trip, end-to-end offline verification, a QR code of version ≤ 25 at level L in
alphanumeric mode, and strict refusal of anything else (RFC 9285 checks, bounded decompression)."""

from __future__ import annotations

import json
import secrets
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.app import create_app
from gateway.exchange.credit_code_offline import (
    B45,
    PREFIX,
    OfflineRejected,
    b45decode,
    b45encode,
    decode_offline,
    encode_offline,
    verify_offline,
)
from gateway.exchange.sd_jwt_vc import present
from gateway.services.context import Gateway
from gateway.services.credential.qr import qr_facts
from tests.credential.wallet_support import Wallet, enrol

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "credit-code" / "presentations.json").read_text("utf-8")
)
CASES = VECTORS["cases"]
KIND = "incentive_provider"
ASK = ["level_at_least.good", "regional_tier"]


def _verify_vector(text: str) -> dict | str:
    """The copyable verifier's answer for a vector: the claims, or the refusal's code."""
    try:
        return verify_offline(
            text,
            jwks={"keys": [VECTORS["issuer_jwk"]]},
            issuer=VECTORS["issuer"],
            verifier_kind=VECTORS["audience"],
            status_list_jwt=None,
            now=VECTORS["now"],
        )
    except OfflineRejected as exc:
        return exc.code


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_every_vector_round_trips_exactly_and_verifies_the_same(case: dict) -> None:
    compact = encode_offline(case["presentation"])
    assert compact.startswith(PREFIX) and set(compact[len(PREFIX) :]) <= set(B45)
    assert decode_offline(compact) == case["presentation"]
    assert _verify_vector(compact) == _verify_vector(case["presentation"])  # both forms, one answer


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_the_vectors_fit_a_version_25_qr_code_at_level_l_in_alphanumeric_mode(case: dict) -> None:
    compact = encode_offline(case["presentation"])
    at_l = segno.make_qr(compact, error="l", boost_error=False)
    assert at_l.mode == "alphanumeric" and int(at_l.version) <= 25
    plain = segno.make_qr(case["presentation"], error="l", boost_error=False)
    assert int(at_l.version) < int(plain.version)  # what the compact form is for
    facts = qr_facts(compact)
    assert facts.mode == "alphanumeric" and facts.version <= 25 and facts.characters == len(compact)


def test_rfc_9285_examples() -> None:
    for raw, encoded in [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
    ]:
        assert b45encode(raw) == encoded and b45decode(encoded) == raw


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("A", "3k+1"),
        ("BB8A", "3k+1"),
        ("bb8", "alphabet"),
        ("BB=", "alphabet"),
        ("GGW", "above 65535"),  # 16 + 16·45 + 32·2025 = 65536
        ("::", "above 255"),  # 44 + 44·45 = 2024
    ],
)
def test_base45_refuses_what_rfc_9285_refuses(text: str, reason: str) -> None:
    with pytest.raises(OfflineRejected) as info:
        b45decode(text)
    assert info.value.code == "presentation_malformed" and reason in str(info.value)


@given(st.binary(max_size=600))
def test_base45_round_trips_any_bytes(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=300), st.text(alphabet=B45, max_size=300).map(lambda t: PREFIX + t)))
def test_garbage_is_refused_only_with_the_modules_own_error(text: str) -> None:
    try:
        decode_offline(text)
    except OfflineRejected as exc:
        assert exc.code in {"presentation_malformed", "presentation_too_large"}


@given(st.binary(max_size=400))
def test_a_valid_base45_body_that_is_not_our_structure_is_refused_or_decoded(data: bytes) -> None:
    text = PREFIX + b45encode(zlib.compress(data))
    try:
        presentation = decode_offline(text)
    except OfflineRejected as exc:
        assert exc.code == "presentation_malformed"
    else:
        assert encode_offline(presentation).startswith(PREFIX)


def test_a_zlib_bomb_is_refused_without_inflating_it() -> None:
    bomb = PREFIX + b45encode(zlib.compress(b"\0" * 8_000_000, 9))
    assert len(bomb) < 16 * 1024  # a code this short would expand to 8 MB
    with pytest.raises(OfflineRejected) as info:
        decode_offline(bomb)
    assert info.value.code == "presentation_too_large"


def test_truncated_codes_are_refused() -> None:
    compact = encode_offline(CASES[0]["presentation"])
    for end in range(len(PREFIX), len(compact)):
        with pytest.raises(OfflineRejected):
            decode_offline(compact[:end])


def test_an_altered_code_is_refused_or_decodes_to_the_same_presentation() -> None:
    original = CASES[0]["presentation"]
    compact = encode_offline(original)
    refused = 0
    for at in range(len(PREFIX), len(compact)):
        changed = B45[(B45.index(compact[at]) + 1) % 45]
        try:
            same = decode_offline(compact[:at] + changed + compact[at + 1 :])
        except OfflineRejected:
            refused += 1
        else:  # only bits deflate ignores (padding of its last byte) can change without effect
            assert same == original
    assert refused >= len(compact) - len(PREFIX) - 3


def test_a_non_base64url_presentation_is_not_encoded() -> None:
    with pytest.raises(OfflineRejected):
        encode_offline("eyJh+bc.def~x")


# --- freshly issued presentations -----------------------------------------------------------


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def wallet(gw: Gateway, client: TestClient) -> Wallet:
    w = Wallet(gw, client)
    enrol(gw, w.id_number, w.name, "cmp")
    return w


def test_a_fresh_compact_code_round_trips_and_verifies_offline_end_to_end(
    gw: Gateway, client: TestClient, wallet: Wallet
) -> None:
    for claims in (["level_at_least.good"], ASK):
        presentation = present(wallet.credential(), wallet.key, claims, aud=KIND, nonce=secrets.token_urlsafe(8))
        compact = encode_offline(presentation)
        assert decode_offline(compact) == presentation
        jwks = client.get("/.well-known/jwks.json").json()
        status = client.get("/status-lists/1").text
        got = verify_offline(compact, jwks=jwks, issuer=gw.settings.issuer, verifier_kind=KIND, status_list_jwt=status)
        assert set(got) == set(claims)
        facts = qr_facts(compact)
        assert facts.mode == "alphanumeric" and facts.version <= 25
        with pytest.raises(OfflineRejected):  # another kind of verifier: the compact form changes nothing
            verify_offline(
                compact, jwks=jwks, issuer=gw.settings.issuer, verifier_kind="city_platform", status_list_jwt=status
            )


def test_gateway_verify_presentation_accepts_the_compact_form(
    gw: Gateway, client: TestClient, wallet: Wallet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    jwks = tmp_path / "jwks.json"
    jwks.write_text(client.get("/.well-known/jwks.json").text, encoding="utf-8")
    status = tmp_path / "status.jwt"
    status.write_text(client.get("/status-lists/1").text, encoding="utf-8")
    presentation = present(wallet.credential(), wallet.key, ASK, aud=KIND, nonce="n", iat=int(time.time()))
    compact = encode_offline(presentation)
    tail = ["--presentation", "--jwks", str(jwks), "--status-list", str(status), "--issuer", gw.settings.issuer]
    assert main(["verify", compact, *tail, "--verifier-kind", KIND]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and '"level_at_least.good"' in out
    broken = compact[: len(PREFIX) + 10] + "a" + compact[len(PREFIX) + 11 :]  # lower case: not Base45
    assert main(["verify", broken, *tail, "--verifier-kind", KIND]) == 1
    assert "INVALID [presentation_malformed]" in capsys.readouterr().out


def test_a_non_canonical_segment_comes_back_canonical_and_the_hash_tells_them_apart(
    gw: Gateway, client: TestClient, wallet: Wallet
) -> None:
    presentation = present(wallet.credential(), wallet.key, ASK, aud=KIND, nonce="n")
    parts = presentation.split("~")
    # The issuer JWT's ES256 signature is 86 characters (4k+2): its last character has 4 padding
    # bits; flipping the lowest gives a non-canonical twin of the same bytes.
    header, payload, signature = parts[0].split(".")
    assert len(signature) % 4 == 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts[0] = f"{header}.{payload}.{signature[:-1]}{alphabet[alphabet.index(signature[-1]) ^ 1]}"
    twin = "~".join(parts)
    assert twin != presentation and decode_offline(encode_offline(twin)) == presentation  # canonical again
    jwks = client.get("/.well-known/jwks.json").json()
    status = client.get("/status-lists/1").text
    # The non-canonical text is refused as it stands (PyJWT will not decode it, and the KB-JWT's
    # sd_hash covers the text as written); its compact form is the canonical text, accepted.
    check = lambda text: verify_offline(  # noqa: E731
        text, jwks=jwks, issuer=gw.settings.issuer, verifier_kind=KIND, status_list_jwt=status
    )
    with pytest.raises(OfflineRejected):
        check(twin)
    assert set(check(encode_offline(twin))) == set(ASK)
