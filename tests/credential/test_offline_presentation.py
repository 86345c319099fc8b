"""Offline, resident first: the QR code holds the presentation; the copyable module and the
gateway's verifier agree; the QR code stays readable."""

from __future__ import annotations

import ast
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import gateway.exchange.credit_code_offline as offline_module
from gateway.api.app import create_app
from gateway.exchange.credit_code_offline import OfflineRejected, verify_offline
from gateway.exchange.errors import InvalidToken
from gateway.exchange.sd_jwt_vc import present
from gateway.services.context import Gateway
from gateway.services.credential.qr import qr_facts
from gateway.services.credential.verification import gateway_verifier
from tests.credential.wallet_support import Wallet, enrol

KIND = "incentive_provider"
ASK = ["level_at_least.good", "regional_tier"]


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def wallet(gw: Gateway, client: TestClient) -> Wallet:
    w = Wallet(gw, client)
    enrol(gw, w.id_number, w.name, "off")
    return w


def offline(wallet: Wallet, credential: str, *, aud: str = KIND, age: float = 0) -> str:
    return present(credential, wallet.key, ASK, aud=aud, nonce=secrets.token_urlsafe(8), iat=int(time.time() - age))


def check(gw: Gateway, client: TestClient, qr_text: str) -> dict:
    jwks = client.get("/.well-known/jwks.json").json()
    status = client.get("/status-lists/1").text
    return verify_offline(qr_text, jwks=jwks, issuer=gw.settings.issuer, verifier_kind=KIND, status_list_jwt=status)


def test_the_copyable_module_and_the_gateway_accept_the_same_code(
    gw: Gateway, client: TestClient, wallet: Wallet
) -> None:
    qr_text = offline(wallet, wallet.credential())
    claims = check(gw, client, qr_text)
    assert set(claims) == set(ASK) and claims["regional_tier"]["scheme"] == "yrd-common/1"
    ours = gateway_verifier(gw).verify(qr_text, audience=KIND, nonce=None, requested=ASK, kb_max_age=120)
    assert ours.disclosed_claims() == claims


@pytest.mark.parametrize(
    ("case", "code"),
    [("stale", "key_binding_stale"), ("other_kind", "key_binding_audience_mismatch"), ("no_kb", "key_binding_missing")],
)
def test_both_refuse_the_same_bad_codes(gw: Gateway, client: TestClient, wallet: Wallet, case: str, code: str) -> None:
    credential = wallet.credential()
    qr_text = {
        "stale": lambda: offline(wallet, credential, age=121),
        "other_kind": lambda: offline(wallet, credential, aud="financial_institution"),
        "no_kb": lambda: offline(wallet, credential).rsplit("~", 1)[0] + "~",
    }[case]()
    with pytest.raises(OfflineRejected) as copied:
        check(gw, client, qr_text)
    with pytest.raises(InvalidToken) as ours:
        gateway_verifier(gw).verify(qr_text, audience=KIND, nonce=None, requested=ASK, kb_max_age=120)
    assert copied.value.code == ours.value.code == code


def test_a_superseded_code_is_refused_with_a_fresh_status_list(gw: Gateway, client: TestClient, wallet: Wallet) -> None:
    old = wallet.credential()
    wallet.credential()  # supersedes the first
    gw.status_lists.now = lambda: time.time() - 1  # a clock before the cached build: the list is rebuilt
    with pytest.raises(OfflineRejected) as info:
        check(gw, client, offline(wallet, old))
    assert info.value.code == "credential_revoked"


def test_the_module_is_copyable_it_imports_nothing_of_the_gateway() -> None:
    tree = ast.parse(Path(offline_module.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert imported <= {"__future__", "base64", "hashlib", "json", "time", "zlib", "typing", "jwt"}


def test_the_offline_qr_code_stays_a_phone_readable_qr_code(wallet: Wallet) -> None:
    facts = qr_facts(offline(wallet, wallet.credential()))
    # A QR code exists only up to version 40; the README reports the measured version and level.
    assert facts.version <= 40 and facts.error in ("M", "L")
    assert facts.error == "M" or facts.version > 25  # M whenever it fits in version 25


def test_gateway_verify_presentation_offline_with_cached_files(
    gw: Gateway, client: TestClient, wallet: Wallet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    jwks = tmp_path / "jwks.json"
    jwks.write_text(client.get("/.well-known/jwks.json").text, encoding="utf-8")
    status = tmp_path / "status.jwt"
    status.write_text(client.get("/status-lists/1").text, encoding="utf-8")
    qr_text = offline(wallet, wallet.credential())
    args = [
        "verify",
        "--presentation",
        "--jwks",
        str(jwks),
        "--status-list",
        str(status),
        "--issuer",
        gw.settings.issuer,
    ]
    assert main([*args[:1], qr_text, *args[1:], "--verifier-kind", KIND]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and '"level_at_least.good"' in out and wallet.name not in out
    assert main([*args[:1], qr_text, *args[1:], "--verifier-kind", "city_platform"]) == 1
    assert "INVALID [key_binding_audience_mismatch]" in capsys.readouterr().out
