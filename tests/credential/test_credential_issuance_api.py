"""Issuing the credit code over HTTP (OpenID4VCI): metadata, nonces, key proofs, the claims, and
supersession through the status list."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.exchange import Status
from gateway.exchange._b64 import b64url_decode
from gateway.exchange.errors import InvalidToken
from gateway.exchange.kb_jwt import make_kb_jwt
from gateway.exchange.sd_jwt import parse_sd_jwt, select_disclosures
from gateway.services.context import Gateway
from gateway.services.credential.verification import gateway_verifier
from tests.credential.wallet_support import Wallet, enrol, withdraw_authorisation


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def wallet(gw: Gateway, client: TestClient) -> Wallet:
    w = Wallet(gw, client)
    enrol(gw, w.id_number, w.name, "cc")
    return w


def payload(credential: str) -> dict:
    return json.loads(b64url_decode(credential.split("~")[0].split(".")[1]))


def header(credential: str) -> dict:
    return json.loads(b64url_decode(credential.split(".")[0]))


def present(gw: Gateway, wallet: Wallet, credential: str, paths: list[str]) -> dict:
    presented = select_disclosures(credential, paths)
    kb = make_kb_jwt(presented, wallet.key, aud="sx-scenic-example", nonce="n", iat=int(time.time()))
    result = gateway_verifier(gw).verify(presented + kb, audience="sx-scenic-example", nonce="n", requested=paths)
    return result.disclosed_claims()


def test_metadata_and_type_metadata_are_published(client: TestClient, gw: Gateway) -> None:
    meta = client.get("/.well-known/openid-credential-issuer").json()
    config = meta["credential_configurations_supported"]["sx-credit-code"]
    assert meta["credential_issuer"] == gw.settings.issuer and config["format"] == "dc+sd-jwt"
    vct_path = config["vct"].removeprefix(gw.settings.issuer)
    type_meta = client.get(vct_path).json()
    assert type_meta["vct"] == config["vct"]
    assert all(claim["sd"] == "always" for claim in type_meta["claims"])
    schema = client.get(type_meta["schema_uri"].removeprefix(gw.settings.issuer))
    assert schema.status_code == 200 and schema.json()["$id"] == type_meta["schema_uri"]


def test_a_credential_has_the_format_and_only_disclosable_claims(gw: Gateway, wallet: Wallet) -> None:
    credential = wallet.credential()
    assert header(credential)["typ"] == "dc+sd-jwt" and header(credential)["alg"] == "ES256"
    assert header(credential)["kid"] == gw.keyring.signing_key().kid
    claims = payload(credential)
    assert set(claims) == {"iss", "iat", "exp", "vct", "cnf", "status", "level_at_least", "_sd", "_sd_alg"}
    assert claims["_sd_alg"] == "sha-256" and claims["exp"] - claims["iat"] == 30 * 86400
    assert len(claims["_sd"]) == 6 and len(claims["level_at_least"]["_sd"]) == 5
    assert claims["cnf"]["jwk"]["x"] == wallet.key.public_jwk()["x"]
    everything = present(gw, wallet, credential, ["tier", "regional_tier", "jurisdiction", "name_masked"])
    assert everything["name_masked"] == "张*" and everything["jurisdiction"]["city"] == "330600"
    levels = present(gw, wallet, credential, [f"level_at_least.{lvl}" for lvl in ("outstanding", "good", "fair")])
    assert set(levels) == {"level_at_least.outstanding", "level_at_least.good", "level_at_least.fair"}
    text = json.dumps([b64url_decode(d).decode() for d in parse_sd_jwt(credential).disclosures], ensure_ascii=False)
    assert wallet.id_number not in text and "score" not in text


def test_the_score_only_when_asked_and_the_digest_count_does_not_tell(gw: Gateway, wallet: Wallet) -> None:
    credential = wallet.credential(include_score=True)
    assert len(payload(credential)["_sd"]) == 6
    assert present(gw, wallet, credential, ["score"])["score"]["max"] == 1000


def test_nonces_are_single_use(wallet: Wallet) -> None:
    nonce = wallet.nonce()
    assert wallet.request_credential(wallet.proof(nonce=nonce)).status_code == 200
    again = wallet.request_credential(wallet.proof(nonce=nonce))
    assert again.status_code == 400 and again.json()["code"] == "invalid_nonce"
    unknown = wallet.request_credential(wallet.proof(nonce="made-up"))
    assert unknown.json()["code"] == "invalid_nonce"


@pytest.mark.parametrize(
    ("kind", "check"),
    [("aud", "aud"), ("stale", "iat"), ("future", "iat")],
)
def test_key_proof_checks(wallet: Wallet, kind: str, check: str) -> None:
    proof = {
        "aud": lambda: wallet.proof(aud="https://other.test"),
        "stale": lambda: wallet.proof(iat=time.time() - 600),
        "future": lambda: wallet.proof(iat=time.time() + 600),
    }[kind]()
    resp = wallet.request_credential(proof)
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_proof" and resp.json()["check"] == check


def test_a_key_proof_is_needed(wallet: Wallet) -> None:
    body = {"credential_configuration_id": "sx-credit-code", "proofs": {"jwt": []}}
    assert wallet.client.post("/v1/credentials", json=body, headers=wallet.headers()).status_code == 422
    assert wallet.request_credential("a.b.c").json()["code"] == "invalid_proof"


def test_unknown_or_unscored_residents_get_one_refusal(gw: Gateway, client: TestClient) -> None:
    stranger = Wallet(gw, client, seq=900)
    resp = stranger.request_credential()
    assert resp.status_code == 403 and resp.json()["code"] == "credential_request_denied"
    assert stranger.id_number not in resp.text


def test_needs_the_residents_id_token(wallet: Wallet) -> None:
    body = {"credential_configuration_id": "sx-credit-code", "proofs": {"jwt": [wallet.proof()]}}
    assert wallet.client.post("/v1/credentials", json=body).status_code == 401


def _status(gw: Gateway, credential: str) -> int:
    from gateway.exchange import StatusReference
    from gateway.services.credential.verification import OwnStatusLookup

    gw.status_lists.now = lambda: time.time() + 10_000  # force a rebuild of the cached list
    ref = StatusReference.from_claims(payload(credential))
    assert ref is not None
    return OwnStatusLookup(gw)(ref)


def test_a_new_credential_supersedes_the_old_one(gw: Gateway, wallet: Wallet) -> None:
    first = wallet.credential()
    second = wallet.credential()
    assert _status(gw, first) == Status.SUPERSEDED and _status(gw, second) == Status.VALID
    with pytest.raises(InvalidToken) as info:
        present(gw, wallet, first, ["tier"])
    assert info.value.code == "credential_revoked"


def test_withdrawing_the_scoring_authorisation_revokes_the_credential(gw: Gateway, wallet: Wallet) -> None:
    # A withdrawal recorded at the counter (pushed by the credit centre) revokes, as in the app (issue 9).
    credential = wallet.credential()
    withdraw_authorisation(gw, wallet.id_number, wallet.name, "cc")
    assert _status(gw, credential) == Status.INVALID
    assert wallet.request_credential().json()["code"] == "credential_request_denied"


def test_the_residents_own_withdrawal_revokes_the_credential(gw: Gateway, client: TestClient, wallet: Wallet) -> None:
    # Issue 9 meets issue 10: withdrawing in the app (not by a counter record) revokes the credit code.
    credential = wallet.credential()
    withdrawn = client.delete("/v1/me/authorisation", headers=wallet.headers())
    assert withdrawn.status_code == 200, withdrawn.text
    assert _status(gw, credential) == Status.INVALID
    assert wallet.request_credential().json()["code"] == "credential_request_denied"


def test_a_nonce_used_by_one_process_is_spent_for_every_other(gw: Gateway, wallet: Wallet) -> None:
    from gateway.services.credential.nonces import consume_nonce

    nonce = wallet.nonce()
    other = Gateway.build(gw.settings, run_migrations=False, background_refresh=False)
    try:
        with other.engine.begin() as conn:
            assert consume_nonce(conn, nonce)
    finally:
        other.close()
    resp = wallet.request_credential(wallet.proof(nonce=nonce))
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_nonce"


def test_an_unknown_configuration_is_refused_with_the_openid4vci_code(wallet: Wallet) -> None:
    body = {"credential_configuration_id": "other", "proofs": {"jwt": [wallet.proof()]}}
    resp = wallet.client.post("/v1/credentials", json=body, headers=wallet.headers())
    assert resp.status_code == 400 and resp.json()["code"] == "unknown_credential_configuration"
