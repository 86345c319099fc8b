"""Online presentation, verifier first: request, QR, the wallet's answer, the poll, the report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.api.app import create_app
from gateway.clock import utcnow
from gateway.exchange.kb_jwt import make_kb_jwt
from gateway.exchange.sd_jwt import select_disclosures
from gateway.services.context import Gateway
from gateway.store.tables_credential import presentation_requests
from tests.credential.wallet_support import Wallet, enrol
from tests.support.partners import access_token

SCENIC = "sx-scenic-example"
BANK = "sx-example-bank"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def wallet(gw: Gateway, client: TestClient) -> Wallet:
    w = Wallet(gw, client)
    enrol(gw, w.id_number, w.name, "pr")
    return w


def partner(client: TestClient, partner_id: str = SCENIC) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(client, partner_id)}"}


def new_request(client: TestClient, body: dict | None = None, partner_id: str = SCENIC) -> dict:
    body = body or {"purpose": "tourism", "claims": ["level_at_least.good"]}
    resp = client.post("/v1/presentation-requests", json=body, headers=partner(client, partner_id))
    assert resp.status_code == 201, resp.text
    return resp.json()


def answer(wallet: Wallet, credential: str, req: dict, paths: list[str] | None = None, aud: str | None = None):
    view = wallet.client.get(req["request_uri"].split("example", 1)[1])
    assert view.status_code == 200, view.text
    view = view.json()
    presented = select_disclosures(credential, paths if paths is not None else view["claims"])
    kb = make_kb_jwt(presented, wallet.key, aud=aud or view["client_id"], nonce=view["nonce"], iat=int(time.time()))
    return wallet.client.post(view["response_uri"].split("example", 1)[1], json={"vp_token": presented + kb})


def test_the_counter_flow_discloses_only_what_was_asked(client: TestClient, wallet: Wallet) -> None:
    credential = wallet.credential()
    req = new_request(client)
    assert req["qr_svg"].startswith("<svg") and req["qr_content"].startswith("openid4vp://")
    assert req["expires_at"] - time.time() <= 300
    png = client.get(req["qr_png_url"].split("example", 1)[1], headers=partner(client))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    pending = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=partner(client)).json()
    assert pending["state"] == "pending" and pending["result"] is None
    resp = answer(wallet, credential, req)
    assert resp.status_code == 200, resp.text
    done = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=partner(client)).json()
    assert done["state"] == "verified"
    assert set(done["result"]["claims"]) == {"level_at_least.good"}
    assert wallet.name not in str(done) and wallet.id_number not in str(done)


def test_an_answer_is_accepted_once_even_by_another_process(gw: Gateway, client: TestClient, wallet: Wallet) -> None:
    credential = wallet.credential()
    req = new_request(client)
    assert answer(wallet, credential, req).status_code == 200
    other = Gateway.build(gw.settings, run_migrations=False, background_refresh=False)
    try:
        with TestClient(create_app(other), raise_server_exceptions=False) as second:
            view = second.get(f"/v1/presentation-requests/{req['request_id']}/request")
            assert view.status_code == 409 and view.json()["code"] == "presentation_request_answered"
    finally:
        other.close()


def test_over_disclosure_is_refused_and_the_request_stays_open(client: TestClient, wallet: Wallet) -> None:
    credential = wallet.credential()
    req = new_request(client)
    resp = answer(wallet, credential, req, paths=["level_at_least.good", "name_masked"])
    assert resp.status_code == 403 and resp.json()["code"] == "disclosure_not_requested"
    assert answer(wallet, credential, req).status_code == 200


def test_a_presentation_made_for_another_verifier_is_refused(client: TestClient, wallet: Wallet) -> None:
    resp = answer(wallet, wallet.credential(), new_request(client), aud=BANK)
    assert resp.status_code == 401 and resp.json()["code"] == "key_binding_audience_mismatch"


def test_an_expired_request_cannot_be_answered(gw: Gateway, client: TestClient, wallet: Wallet) -> None:
    req = new_request(client)
    with gw.engine.begin() as conn:
        conn.execute(
            update(presentation_requests)
            .where(presentation_requests.c.id == req["request_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    view = client.get(f"/v1/presentation-requests/{req['request_id']}/request")
    assert view.status_code == 410 and view.json()["code"] == "presentation_request_expired"
    polled = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=partner(client)).json()
    assert polled["state"] == "expired"


def test_a_request_asks_nothing_beyond_what_the_partner_may_receive(client: TestClient) -> None:
    headers = partner(client)
    cases = [
        ({"purpose": "tourism", "claims": ["score"]}, 422, "claim_not_requestable"),
        ({"purpose": "tourism", "claims": ["id_number"]}, 422, "claim_not_requestable"),
        ({"purpose": "tourism", "claims": []}, 422, "claim_not_requestable"),
        ({"purpose": "loan_discount", "claims": ["tier"]}, 403, "purpose_not_allowed"),
        ({"programme_id": "sx-example-bank-deposit-waiver"}, 403, "programme_not_offered"),
        ({"programme_id": "nope"}, 404, "programme_not_found"),
    ]
    for body, status, code in cases:
        resp = client.post("/v1/presentation-requests", json=body, headers=headers)
        assert (resp.status_code, resp.json()["code"]) == (status, code), body


def test_only_the_verifier_that_asked_can_poll(client: TestClient) -> None:
    req = new_request(client)
    resp = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=partner(client, BANK))
    assert resp.status_code == 404


def test_a_programme_request_returns_a_signed_decision(gw: Gateway, client: TestClient, wallet: Wallet) -> None:
    req = new_request(client, {"programme_id": "sx-scenic-example-tickets"})
    assert req["claims"] == ["level_at_least.good", "level_at_least.outstanding"] and req["purpose"] == "tourism"
    assert answer(wallet, wallet.credential(), req).status_code == 200
    result = client.get(f"/v1/presentation-requests/{req['request_id']}", headers=partner(client)).json()["result"]
    decision = result["decision"]
    key = gw.keyring.verification_keys()[jwt.get_unverified_header(decision["token"])["kid"]]
    claims = jwt.decode(decision["token"], key.key, algorithms=["ES256"], audience=SCENIC)
    assert claims["eligible"] == result["claims"]["level_at_least.good"]
    assert claims["programme"]["id"] == "sx-scenic-example-tickets" and "score" not in claims


def test_the_residents_report_lists_each_online_presentation(client: TestClient, wallet: Wallet) -> None:
    credential = wallet.credential()
    req = new_request(client)
    assert answer(wallet, credential, req).status_code == 200
    mine = client.get("/v1/me/presentations", headers=wallet.headers()).json()
    assert [m["request_id"] for m in mine] == [req["request_id"]]
    assert mine[0]["verifier"] == SCENIC and mine[0]["claims"] == ["level_at_least.good"]
    assert client.get("/v1/me/presentations").status_code == 401
