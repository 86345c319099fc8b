"""Token Status List: the draft's vectors, packing, decoding limits, and statuslist+jwt tokens."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from gateway.exchange import (
    TYP_STATUS_LIST,
    Status,
    StatusList,
    StatusReference,
    VerificationKey,
    build_status_list_token_claims,
    verify_status_list_token,
)
from gateway.exchange import status_list as status_list_module
from gateway.exchange._b64 import b64url_encode
from gateway.exchange.errors import InvalidClaim, InvalidToken, StatusListInvalid
from gateway.exchange.verify import TokenVerifier
from tests.exchange.exchange_support import ISSUER, Clock, Tokens, load_vector

VECTORS = load_vector("status-list.json")
LIST_URI = "https://score-gateway.shaoxing.example/status-lists/1"


@pytest.mark.parametrize("case", VECTORS["round_trip"], ids=lambda c: c["name"])
def test_draft_examples_round_trip(case: dict[str, Any]) -> None:
    decoded = StatusList.decode({"bits": case["bits"], "lst": case["lst"]})
    assert decoded.to_bytes() == bytes.fromhex(case["bytes_hex"])
    assert [decoded.get(i) for i in range(len(case["statuses"]))] == case["statuses"]
    built = StatusList(case["bits"], len(case["statuses"]))
    for idx, value in enumerate(case["statuses"]):
        built.set(idx, value)
    assert built.to_bytes() == bytes.fromhex(case["bytes_hex"])
    assert built.encode() == {"bits": case["bits"], "lst": case["lst"]}


@pytest.mark.parametrize("case", VECTORS["decode_reencode"], ids=lambda c: c["name"])
def test_long_draft_example_decodes_and_reencodes_identically(case: dict[str, Any]) -> None:
    decoded = StatusList.decode({"bits": case["bits"], "lst": case["lst"]})
    assert decoded.size == case["size"]
    for idx, value in case["spot_checks"].items():
        assert decoded.get(int(idx)) == value
    assert decoded.get(1) == 0
    assert decoded.encode() == {"bits": case["bits"], "lst": case["lst"]}


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_lsb_first_packing_for_every_width(bits: int) -> None:
    lst = StatusList(bits, 16)
    top = (1 << bits) - 1
    lst.set(1, top)
    per_byte = 8 // bits
    expected = bytearray(len(lst.to_bytes()))
    expected[1 // per_byte] = top << ((1 % per_byte) * bits)
    assert lst.to_bytes() == bytes(expected)
    assert [lst.get(i) for i in range(16)] == [top if i == 1 else 0 for i in range(16)]
    lst.set(1, 0)
    assert lst.to_bytes() == bytes(len(expected))


def test_set_does_not_disturb_neighbours() -> None:
    lst = StatusList(2, 8)
    for idx in range(8):
        lst.set(idx, Status.SUPERSEDED)
    lst.set(5, Status.SUSPENDED)
    assert [lst.get(i) for i in range(8)] == [3, 3, 3, 3, 3, 2, 3, 3]


def test_status_values() -> None:
    assert [int(s) for s in (Status.VALID, Status.INVALID, Status.SUSPENDED, Status.SUPERSEDED)] == [
        0,
        1,
        2,
        3,
    ]


def test_programming_errors() -> None:
    with pytest.raises(ValueError):
        StatusList(3, 8)
    with pytest.raises(ValueError):
        StatusList(1, 0)
    lst = StatusList(1, 8)
    with pytest.raises(ValueError):
        lst.set(0, 2)
    with pytest.raises(IndexError):
        lst.get(8)
    with pytest.raises(IndexError):
        lst.get(-1)


def _lst(data: bytes) -> str:
    return b64url_encode(zlib.compress(data, 9))


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"bits": 3, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": True, "lst": "eNrbuRgAAhcBXQ"},
        {"bits": 1},
        {"bits": 1, "lst": 5},
        {"bits": 1, "lst": "eNrbuRgAAhcBXQ=="},
        {"bits": 1, "lst": b64url_encode(b"not zlib at all")},
        {"bits": 1, "lst": b64url_encode(zlib.compress(b"\xb9\xa3")[:-3])},  # truncated stream
        {"bits": 1, "lst": b64url_encode(zlib.compress(b"\xb9\xa3") + b"junk")},  # trailing data
        {"bits": 1, "lst": _lst(b"")},
    ],
)
def test_decode_refuses_invalid_lists(obj: Any) -> None:
    with pytest.raises(StatusListInvalid):
        StatusList.decode(obj)


def test_decode_is_bounded_against_decompression_bombs(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = {"bits": 1, "lst": _lst(bytes(4096))}
    assert StatusList.decode(bomb).size == 4096 * 8
    monkeypatch.setattr(status_list_module, "MAX_STATUS_LIST_BYTES", 4095)
    with pytest.raises(StatusListInvalid) as caught:
        StatusList.decode(bomb)
    assert caught.value.extensions["check"] == "size"


def test_status_reference_from_claims() -> None:
    assert StatusReference.from_claims({}) is None
    assert StatusReference.from_claims({"status": {"other": {}}}) is None
    ref = StatusReference.from_claims({"status": {"status_list": {"idx": 0, "uri": LIST_URI}}})
    assert ref == StatusReference(0, LIST_URI)
    bad_claims: list[dict[str, Any]] = [
        {"status": []},
        {"status": {"status_list": []}},
        {"status": {"status_list": {"idx": -1, "uri": LIST_URI}}},
        {"status": {"status_list": {"idx": True, "uri": LIST_URI}}},
        {"status": {"status_list": {"idx": 1, "uri": "http://insecure.example/1"}}},
        {"status": {"status_list": {"idx": 1}}},
    ]
    for bad in bad_claims:
        with pytest.raises(InvalidClaim):
            StatusReference.from_claims(bad)


def test_build_claims() -> None:
    lst = StatusList(2, 16)
    claims = build_status_list_token_claims(LIST_URI, lst, 1000, 2000, 300, iss=ISSUER)
    assert claims == {
        "sub": LIST_URI,
        "iss": ISSUER,
        "iat": 1000,
        "exp": 2000,
        "ttl": 300,
        "status_list": lst.encode(),
    }
    assert set(build_status_list_token_claims(LIST_URI, lst, 1000, None, None)) == {
        "sub",
        "iat",
        "status_list",
    }
    for args in (
        (LIST_URI.replace("https", "http"), 1000, 2000, 300),
        (LIST_URI, 1000, 1000, 300),
        (LIST_URI, 1000, 2000, 0),
    ):
        with pytest.raises(ValueError):
            build_status_list_token_claims(args[0], lst, args[1], args[2], args[3])


# --- statuslist+jwt ---------------------------------------------------------------------------


def _token(tokens: Tokens, **overrides: Any) -> str:
    lst = StatusList(2, 64)
    lst.set(7, Status.INVALID)
    lst.set(9, Status.SUPERSEDED)
    now = int(tokens.clock())
    claims = build_status_list_token_claims(LIST_URI, lst, now, now + 3600, 600, iss=ISSUER)
    for name, value in overrides.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return tokens.sign(claims, "issuer-es256", TYP_STATUS_LIST)


def _verify(tokens: Tokens, clock: Clock, token: str, uri: str = LIST_URI, keys: str = "issuer-es256") -> Any:
    return verify_status_list_token(token, uri=uri, keys=tokens.key_set(keys), issuer=ISSUER, now=clock)


def _code(tokens: Tokens, clock: Clock, token: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        _verify(tokens, clock, token, **kwargs)
    assert caught.value.extensions["token_kind"] == "status_list"
    return caught.value.code


def test_verified_status_list_token(tokens: Tokens, clock: Clock) -> None:
    result = _verify(tokens, clock, _token(tokens))
    assert (result.status(7), result.status(9), result.status(8)) == (
        Status.INVALID,
        Status.SUPERSEDED,
        Status.VALID,
    )
    assert result.ttl == 600
    assert result.cache_until(clock() + 5) == clock() + 605
    assert result.cache_until(clock() + 3500) == result.exp
    with pytest.raises(StatusListInvalid):
        result.status(64)


def test_status_list_token_checks(tokens: Tokens, clock: Clock) -> None:
    assert _code(tokens, clock, _token(tokens), uri=LIST_URI + "2") == "subject_mismatch"
    assert _code(tokens, clock, _token(tokens, sub=None)) == "missing_claim"
    assert _code(tokens, clock, _token(tokens, iat=None)) == "missing_claim"
    assert _code(tokens, clock, _token(tokens, status_list=None)) == "missing_claim"
    assert _code(tokens, clock, _token(tokens, ttl=0)) == "invalid_claim"
    assert _code(tokens, clock, _token(tokens, ttl="600")) == "invalid_claim"
    assert _code(tokens, clock, _token(tokens, iss="https://evil.example")) == "issuer_mismatch"
    assert _code(tokens, clock, _token(tokens, aud="https://bank.example")) == "audience_mismatch"
    assert _code(tokens, clock, _token(tokens, status_list={"bits": 3, "lst": "AA"})) == "status_list_invalid"
    assert _code(tokens, clock, _token(tokens), keys="client-es256") == "unknown_key"
    score_typed = tokens.sign({"sub": LIST_URI, "iat": int(clock())}, "issuer-es256")
    assert _code(tokens, clock, score_typed) == "token_type_mismatch"
    token = _token(tokens)
    clock.advance(3600)
    assert _code(tokens, clock, token) == "token_expired"


def test_draft_status_list_jwt_example(tokens: Tokens, clock: Clock) -> None:
    example = VECTORS["status_list_jwt"]
    unverified = TokenVerifier(typ=TYP_STATUS_LIST, audience=None, now=clock).inspect(example["token"])
    assert dict(unverified.header) == example["header"]
    assert dict(unverified.claims) == example["claims"]
    assert StatusList.decode(unverified.claims["status_list"]).to_bytes() == b"\xb9\xa3"
    # We do not hold the draft's key: bound to one of ours under kid "12", it must not verify.
    wrong_key = VerificationKey("12", "ES256", tokens.keys["issuer-es256"].private_key.public_key())
    with pytest.raises(InvalidToken) as caught:
        verify_status_list_token(
            example["token"],
            uri=example["claims"]["sub"],
            keys={"12": wrong_key},
            issuer="https://example.com",
            now=clock,
        )
    assert caught.value.code == "bad_signature"
