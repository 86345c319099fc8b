"""`gateway verify`: a partner checks an assertion with public keys only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from gateway.cli import main
from gateway.config import DEFAULT_ISSUER
from gateway.exchange import TYP_SCORE_ASSERTION, generate_signing_key, jwks_document, sign
from gateway.verify_cli import fetch_issuer_keys

VECTORS = Path(__file__).resolve().parent / "vectors" / "exchange"


def _claims(aud: str = "sx-example-bank") -> dict[str, object]:
    claims = json.loads((VECTORS / "score-assertion-claims.json").read_text(encoding="utf-8"))
    now = int(time.time())
    claims.update(iss=DEFAULT_ISSUER, aud=aud, iat=now, nbf=now, exp=now + 600, score_as_of=now - 60)
    return dict(claims)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str]:
    key = generate_signing_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(jwks_document([key])))
    return sign(_claims(), key, TYP_SCORE_ASSERTION), str(jwks)


def test_valid_assertion_prints_its_claims(setup: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    token, jwks = setup
    assert main(["verify", token, "--jwks", jwks, "--audience", "sx-example-bank"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and '"purpose"' in out


@pytest.mark.parametrize(
    ("mutate", "audience", "code"),
    [
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "sx-example-bank", "bad_signature"),
        (lambda t: t, "hangzhou-credit", "audience_mismatch"),
        (lambda t: "x" + t, "sx-example-bank", "token_malformed"),
    ],
)
def test_each_failure_names_its_check(
    setup: tuple[str, str], mutate, audience: str, code: str, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    token, jwks = setup
    assert main(["verify", mutate(token), "--jwks", jwks, "--audience", audience]) == 1
    assert capsys.readouterr().out.startswith(f"INVALID [{code}]")


def test_schema_breach_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = generate_signing_key()
    (tmp_path / "jwks.json").write_text(json.dumps(jwks_document([key])))
    token = sign({**_claims(), "id_number": "leak"}, key, TYP_SCORE_ASSERTION)
    assert main(["verify", token, "--jwks", str(tmp_path / "jwks.json"), "--audience", "sx-example-bank"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID [assertion_schema_invalid]") and "leak" not in out


def test_audience_is_required(setup: tuple[str, str]) -> None:
    token, jwks = setup
    assert main(["verify", token, "--jwks", jwks]) == 2


def test_issuer_discovery_refuses_metadata_of_another_issuer() -> None:
    key = generate_signing_key()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/score-issuer":
            return httpx.Response(200, json={"issuer": "https://evil.example", "jwks_uri": "https://evil.example/j"})
        return httpx.Response(200, json=jwks_document([key]))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client, pytest.raises(ValueError):
        fetch_issuer_keys(DEFAULT_ISSUER, client)

    def honest(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/score-issuer":
            return httpx.Response(
                200, json={"issuer": DEFAULT_ISSUER, "jwks_uri": f"{DEFAULT_ISSUER}/.well-known/jwks.json"}
            )
        return httpx.Response(200, json=jwks_document([key]))

    with httpx.Client(transport=httpx.MockTransport(honest)) as client:
        assert list(fetch_issuer_keys(DEFAULT_ISSUER, client)) == [key.kid]


def _status_setup(statuses: dict[int, int]):  # type: ignore[no-untyped-def]
    from gateway.exchange import TYP_STATUS_LIST, StatusList, build_status_list_token_claims

    key = generate_signing_key()
    uri = f"{DEFAULT_ISSUER}/status-lists/1"
    lst = StatusList(bits=2, size=64)
    for idx, value in statuses.items():
        lst.set(idx, value)
    now = int(time.time())
    token = sign(
        build_status_list_token_claims(uri, lst, iat=now, exp=now + 600, ttl=60, iss=DEFAULT_ISSUER),
        key,
        TYP_STATUS_LIST,
    )
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text=token)))
    return key, uri, client


@pytest.mark.parametrize(("idx", "expected"), [(0, "valid"), (1, "assertion_revoked"), (2, "assertion_superseded")])
def test_online_verification_checks_the_status_list(idx: int, expected: str) -> None:
    from gateway.verify_cli import check_status

    key, uri, client = _status_setup({1: 1, 2: 3})
    claims = {**_claims(), "status": {"status_list": {"idx": idx, "uri": uri}}}
    with client:
        assert check_status(claims, {key.kid: key.verification_key()}, DEFAULT_ISSUER, client) == expected


def test_status_list_elsewhere_than_the_issuer_is_not_fetched() -> None:
    from gateway.verify_cli import check_status

    key, _, client = _status_setup({})
    claims = {**_claims(), "status": {"status_list": {"idx": 0, "uri": "https://169.254.169.254/latest"}}}
    with client:
        assert (
            check_status(claims, {key.kid: key.verification_key()}, DEFAULT_ISSUER, client) == "status_list_untrusted"
        )
