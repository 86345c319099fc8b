"""Officer score lookups and self-report decisions over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.services.context import Gateway
from gateway.store.tables import audit_log, information_records
from tests.support import basic_records, make_id, record

LOOKUP = "/v1/officer/score-lookups"
WHY = {"purpose": "loan application review", "case_reference": "CASE-2026-001"}


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _enrol(client: TestClient, keys: dict[str, str], idn: str, name: str, prefix: str) -> None:
    for unit, batch in basic_records(idn, name, prefix).items():
        assert client.post("/v1/ingest/records", json=batch, headers=_h(keys[unit])).json()["accepted"] == 1


def test_officer_sees_score_tier_and_breakdown(client: TestClient, keys: dict[str, str], gw: Gateway) -> None:
    idn = make_id(seq=511)
    _enrol(client, keys, idn, "孙八", "p511")
    resp = client.post(LOOKUP, json={"id_number": idn.lower(), **WHY}, headers=_h(keys["officer"]))
    assert resp.status_code == 200
    view = resp.json()
    assert view["eligible"] is True and view["person"]["name_masked"] == "孙*"
    assert 0 <= view["score"] <= 1000 and view["tier"]["code"]
    evaluation = [e for e in view["breakdown"] if e["records"] and e["records"][0]["item"] == "provincial_evaluation"]
    assert evaluation and evaluation[0]["records"][0]["unit"] == "zj-credit-platform"
    assert idn not in resp.text and "孙八" not in resp.text
    with gw.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action, audit_log.c.actor_id)).all()
    assert ("score.view", "officer-007") in actions


def test_lookup_problems(client: TestClient, keys: dict[str, str]) -> None:
    bad = make_id(seq=512)[:17] + ("0" if make_id(seq=512)[17] != "0" else "1")
    resp = client.post(LOOKUP, json={"id_number": bad, **WHY}, headers=_h(keys["officer"]))
    assert resp.status_code == 422 and resp.json()["code"] == "invalid_id_number"
    assert bad not in resp.text
    resp = client.post(LOOKUP, json={"id_number": make_id(seq=513), **WHY}, headers=_h(keys["officer"]))
    assert resp.status_code == 404
    # A unit's access token is not an officer credential.
    resp = client.post(LOOKUP, json={"id_number": make_id(seq=513), **WHY}, headers=_h(keys["sx-transport"]))
    assert resp.status_code == 401
    resp = client.post(LOOKUP, json={"id_number": 12345, **WHY}, headers=_h(keys["officer"]))
    assert resp.status_code == 422 and "12345" not in resp.text


def test_self_report_verified_then_counts(client: TestClient, keys: dict[str, str], gw: Gateway) -> None:
    idn = make_id(seq=521)
    _enrol(client, keys, idn, "周九", "p521")
    before = client.post(LOOKUP, json={"id_number": idn, **WHY}, headers=_h(keys["officer"])).json()["score"]
    batch = [record("volunteer_service", {"hours": 20}, ref="self-1", id_number=idn, name="周九")]
    assert client.post("/v1/ingest/records", json=batch, headers=_h(keys["sx-self-report"])).json()["accepted"] == 1
    with gw.engine.connect() as conn:
        rid = conn.execute(
            select(information_records.c.id).where(information_records.c.source_ref == "self-1")
        ).scalar_one()
    url = f"/v1/officer/self-reports/{rid}/decision"
    resp = client.post(url, json={"decision": "verified", "reason": "证明材料核实无误"}, headers=_h(keys["officer"]))
    assert resp.status_code == 200 and resp.json()["status"] == "valid"
    after = client.post(LOOKUP, json={"id_number": idn, **WHY}, headers=_h(keys["officer"])).json()["score"]
    assert after > before
    again = client.post(url, json={"decision": "rejected", "reason": "x"}, headers=_h(keys["officer"]))
    assert again.status_code == 409 and again.json()["current_status"] == "valid"


def test_self_report_rejected_never_counts(client: TestClient, keys: dict[str, str], gw: Gateway) -> None:
    idn = make_id(seq=531)
    _enrol(client, keys, idn, "吴十", "p531")
    before = client.post(LOOKUP, json={"id_number": idn, **WHY}, headers=_h(keys["officer"])).json()["score"]
    batch = [record("donation", {"amount_yuan": 9000}, ref="self-2", id_number=idn, name="吴十")]
    client.post("/v1/ingest/records", json=batch, headers=_h(keys["sx-self-report"]))
    with gw.engine.connect() as conn:
        rid = conn.execute(
            select(information_records.c.id).where(information_records.c.source_ref == "self-2")
        ).scalar_one()
    resp = client.post(
        f"/v1/officer/self-reports/{rid}/decision",
        json={"decision": "rejected", "reason": "无凭证"},
        headers=_h(keys["officer"]),
    )
    assert resp.status_code == 200 and resp.json()["status"] == "rejected"
    assert client.post(LOOKUP, json={"id_number": idn, **WHY}, headers=_h(keys["officer"])).json()["score"] == before
