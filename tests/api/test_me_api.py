"""Residents over HTTP: logging in with an ID token, consents, the own score, the disclosure log."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from gateway.clock import utcnow
from gateway.exchange import sign
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.services.scores.ingestion import ingest_batch
from gateway.store.tables import audit_log, disclosures
from tests.support import basic_records, make_id, record

BANK = "sx-example-bank"
CITY = "hangzhou-credit"


def _login(gw: Gateway, idn: str, name: str) -> dict[str, str]:
    token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
    return {"Authorization": f"Bearer {token}"}


def _enrol(gw: Gateway, idn: str, name: str, prefix: str) -> None:
    for unit_id, batch in basic_records(idn, name, prefix).items():
        unit = gw.partners.enabled(unit_id)
        assert unit is not None
        assert len(ingest_batch(gw, unit, batch).accepted) == 1


def _consent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"audience": BANK, "purposes": ["loan_discount"], "channel": "app"}
    body.update(overrides)
    return body


def test_every_route_needs_a_valid_id_token(client: TestClient, gw: Gateway) -> None:
    idn = make_id(seq=701)
    routes = [
        ("GET", "/v1/me/score"),
        ("GET", "/v1/me/consents"),
        ("GET", "/v1/me/disclosures"),
        ("POST", "/v1/me/consents"),
        ("DELETE", "/v1/me/consents/cns_x"),
    ]
    idp = DevIdentityProvider(gw.settings)
    expired = idp.issue_id_token(idn, "张三", now=utcnow().timestamp() - 7200)
    now = int(utcnow().timestamp())
    claims = {"iss": idp.issuer, "aud": "someone-else", "sub": "s", "iat": now, "exp": now + 60}
    foreign = sign({**claims, "id_number": idn, "name": "张三"}, idp.signing_key(), "JWT")
    for method, url in routes:
        body = _consent_body() if method == "POST" else None
        resp = client.request(method, url, json=body)
        assert resp.status_code == 401 and resp.json()["code"] == "unauthenticated"
        assert resp.headers["www-authenticate"].startswith("Bearer")
        resp = client.request(method, url, json=body, headers={"Authorization": f"Bearer {expired}"})
        assert resp.status_code == 401 and resp.json()["code"] == "token_expired"
        resp = client.request(method, url, json=body, headers={"Authorization": f"Bearer {foreign}"})
        assert resp.status_code == 401 and resp.json()["code"] == "audience_mismatch"
        assert expired not in resp.text and idn not in resp.text


def test_invalid_id_number_from_the_idp_is_a_401(client: TestClient, gw: Gateway) -> None:
    idn = make_id(seq=702)
    bad = idn[:17] + ("0" if idn[17] != "0" else "1")
    resp = client.get("/v1/me/score", headers=_login(gw, bad, "张三"))
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_id_number_claim"
    assert bad not in resp.text


def test_consents_over_http(client: TestClient, gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    idn, name = make_id(seq=703), "钱七"
    me = _login(gw, idn, name)
    # A disclosure consent needs the scoring authorisation first (issue 9).
    assert client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).status_code == 200
    resp = client.post("/v1/me/consents", json=_consent_body(disclosure="score", valid_days=90), headers=me)
    assert resp.status_code == 201, resp.text
    granted = resp.json()
    assert granted["audience"] == BANK and granted["status"] == "active"
    assert granted["audience_name"]["zh"] and granted["disclosure"] == "score"
    other = client.post(
        "/v1/me/consents",
        json=_consent_body(audience=CITY, purposes=["cross_city_recognition"], channel="kiosk"),
        headers=me,
    ).json()
    listed = client.get("/v1/me/consents", headers=me).json()
    assert {c["id"] for c in listed} == {granted["id"], other["id"]}

    someone_else = _login(gw, make_id(seq=704), "孙八")
    assert client.delete(f"/v1/me/consents/{granted['id']}", headers=someone_else).status_code == 404
    assert client.get("/v1/me/consents", headers=someone_else).json() == []
    resp = client.delete(f"/v1/me/consents/{granted['id']}", headers=me)
    assert resp.status_code == 200 and resp.json()["status"] == "revoked"
    assert client.delete(f"/v1/me/consents/{granted['id']}", headers=me).json()["status"] == "revoked"
    assert client.delete("/v1/me/consents/cns_unknown", headers=me).status_code == 404
    refused = client.post("/v1/me/consents", json=_consent_body(valid_days=999), headers=me)
    assert refused.status_code == 422
    for text in (resp.text, str(listed), refused.text, caplog.text):
        assert idn not in text and name not in text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_consent_body(audience="sx-transport"), "unknown_audience"),
        (_consent_body(audience="sx-scenic-example", purposes=["loan_discount"]), "consent_purpose_not_allowed"),
        (
            _consent_body(audience="sx-scenic-example", purposes=["tourism"], disclosure="score"),
            "consent_disclosure_not_allowed",
        ),
        (_consent_body(valid_days=400), "invalid_consent_expiry"),
        (_consent_body(expires_at="2099-01-01T00:00:00Z"), "invalid_consent_expiry"),
        (_consent_body(purposes=["marketing"]), "unknown_purpose"),
        (_consent_body(channel="counter"), "validation_failed"),
        (_consent_body(expires_at="2030-01-01T00:00:00"), "validation_failed"),  # no offset
        (_consent_body(purposes=[]), "validation_failed"),
        (_consent_body(id_number="330602199005171234"), "validation_failed"),  # extra member
    ],
)
def test_consent_refusals(client: TestClient, gw: Gateway, body: dict[str, Any], code: str) -> None:
    resp = client.post("/v1/me/consents", json=body, headers=_login(gw, make_id(seq=705), "王五"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == code
    assert "330602199005171234" not in resp.text


def test_my_score_shows_my_own_breakdown(client: TestClient, gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    idn, name = make_id(seq=711), "赵六"
    _enrol(gw, idn, name, "m711")
    unit = gw.partners.enabled("sx-volunteer-federation")
    assert unit is not None
    batch = [record("volunteer_service", {"hours": 4}, ref="m711-vol", id_number=idn, name=name)]
    assert len(ingest_batch(gw, unit, batch).accepted) == 1

    resp = client.get("/v1/me/score", headers=_login(gw, idn, name))
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert view["status"] == "scored" and view["person"]["name_masked"] == "赵*"
    assert 0 < view["score"] <= view["max_score"] == 1000
    assert view["tier"]["code"] and view["tier"]["label"]["zh"] and view["tier"]["label"]["en"]
    assert view["model_version"] == gw.model.version and view["as_of"]
    records = [r for entry in view["breakdown"] for r in entry["records"]]
    items = {r["item"]["code"]: r for r in records}
    assert items["provincial_evaluation"]["unit"] == "zj-credit-platform"
    assert items["volunteer_service"]["unit"] == "sx-volunteer-federation"
    assert items["volunteer_service"]["occurred_at"] == "2026-03-01"
    assert items["volunteer_service"]["item"]["name"]["zh"]

    # Another resident sees their own state, never this one's.
    stranger = client.get("/v1/me/score", headers=_login(gw, make_id(seq=712), "吴十"))
    assert stranger.status_code == 404 and stranger.json()["code"] == "person_unknown"

    with gw.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.actor_type, audit_log.c.action)).all()
    assert ("resident", "score.view_own") in actions
    for text in (resp.text, stranger.text, caplog.text):
        assert idn not in text and name not in text


def test_my_score_says_why_there_is_none(client: TestClient, gw: Gateway) -> None:
    # A consent without a scoring authorisation is refused (issue 9) and leaves nothing behind.
    fresh = _login(gw, make_id(seq=713), "周九")
    refused = client.post("/v1/me/consents", json=_consent_body(), headers=fresh)
    assert refused.status_code == 409 and refused.json()["code"] == "authorisation_missing"
    assert client.get("/v1/me/score", headers=fresh).json()["code"] == "person_unknown"

    # Reported by a unit, but never authorised to be scored: ineligible with the reason.
    idn, name = make_id(seq=714), "李四"
    unit = gw.partners.enabled("sx-public-security")
    assert unit is not None
    batch = [record("residency", {"status": "household_registration"}, ref="m714", id_number=idn, name=name)]
    assert len(ingest_batch(gw, unit, batch).accepted) == 1
    view = client.get("/v1/me/score", headers=_login(gw, idn, name)).json()
    assert view["status"] == "ineligible" and view["reason"] == "no_authorisation"
    assert view["reason_label"]["en"] and "score" not in view


def _disclosure(person_key: str, jti: str, issued_ago: timedelta, audience: str = BANK) -> dict[str, Any]:
    issued = utcnow() - issued_ago
    return {
        "person_key": person_key,
        "audience": audience,
        "purpose": "loan_discount",
        "disclosure": "tier",
        "consent_id": "cns_test",
        "jti": jti,
        "kid": "kid-1",
        "tier": "C",
        "score_id": 1,
        "issued_at": issued,
        "expires_at": issued + timedelta(days=1),
    }


def test_my_disclosures_lists_my_rows_newest_first(client: TestClient, gw: Gateway) -> None:
    idn, name = make_id(seq=721), "孙八"
    me = _login(gw, idn, name)
    assert client.get("/v1/me/disclosures", headers=me).json() == []
    mine = gw.hasher.id_hash(idn)
    theirs = gw.hasher.id_hash(make_id(seq=722))
    with gw.engine.begin() as conn:
        conn.execute(
            insert(disclosures),
            [
                _disclosure(mine, "jti-old", timedelta(days=3)),
                _disclosure(theirs, "jti-theirs", timedelta(days=2)),
                _disclosure(mine, "jti-new", timedelta(hours=1), audience=CITY),
            ],
        )
    resp = client.get("/v1/me/disclosures", headers=me)
    assert resp.status_code == 200
    rows = resp.json()
    assert [r["jti"] for r in rows] == ["jti-new", "jti-old"]
    assert rows[0]["audience"] == CITY and rows[0]["audience_name"]["zh"]
    assert {"purpose", "disclosure", "consent_id", "issued_at", "expires_at"} <= rows[1].keys()
    assert rows[1]["consent_id"] == "cns_test" and rows[1]["purpose"] == "loan_discount"
    assert idn not in resp.text and name not in resp.text and mine not in resp.text
