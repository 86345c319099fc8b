"""The reference holder (``gateway wallet``) against the HTTP API."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.exchange.credit_code_offline import decode_offline
from gateway.services.context import Gateway
from gateway.services.credential.verification import gateway_verifier
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.wallet import HolderWallet, run_wallet
from tests.credential.wallet_support import enrol
from tests.support import make_id
from tests.support.partners import access_token


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


def test_the_wallet_obtains_answers_and_shows_an_offline_code(gw: Gateway, client: TestClient, tmp_path: Path) -> None:
    idn = make_id(seq=811)
    enrol(gw, idn, "赵六", "wal")
    wallet = HolderWallet(tmp_path / "wallet", client, gw.settings.issuer)
    wallet.obtain(DevIdentityProvider(gw.settings).issue_id_token(idn, "赵六"))
    assert (wallet.key_path.stat().st_mode & 0o777) == 0o600
    scenic = {"Authorization": f"Bearer {access_token(client, 'sx-scenic-example')}"}
    req = client.post(
        "/v1/presentation-requests", json={"purpose": "tourism", "claims": ["regional_tier"]}, headers=scenic
    ).json()
    assert wallet.answer(req["request_uri"])["claims"] == ["regional_tier"]
    polled = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=scenic).json()
    assert polled["state"] == "verified" and set(polled["result"]["claims"]) == {"regional_tier"}
    text = wallet.offline("incentive_provider")
    assert text.startswith("SXCC1:")  # the compact form; the gateway's verifier takes the presentation
    verified = gateway_verifier(gw).verify(
        decode_offline(text), audience="incentive_provider", nonce=None, kb_max_age=120
    )
    assert verified.disclosed == {"level_at_least.good"}


def test_the_wallet_refuses_production_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_MODE", "production")
    monkeypatch.setenv("GATEWAY_ISSUER", "https://gw.example")
    for name in ("SIGNING_KEYS_DIR", "RESIDENT_IDP_ISSUER", "RESIDENT_IDP_JWKS", "RESIDENT_IDP_AUDIENCE"):
        monkeypatch.setenv(f"GATEWAY_{name}", "https://x.example")
    args = argparse.Namespace(dir=None, url="http://127.0.0.1:1", action="init")
    assert run_wallet(args) == 2 and "development tool" in capsys.readouterr().err
