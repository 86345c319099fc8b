"""Residents' rights and revocation over HTTP: evidence uploads, the objection workflow with ETags,
credit repair by a unit and by an officer, and the served status lists with their cache bound."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jwt
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import select

from gateway.clock import today_in_shaoxing
from gateway.exchange import Status, parse_jwks, verify_status_list_token
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables_scaleout import evidence_files, evidence_owners
from tests.api.conftest import auth
from tests.exchange.exchange_support import Clock
from tests.support import basic_records, make_id, record
from tests.support.partners import access_token

BANK = "sx-example-bank"
COURT = "sx-intermediate-court"
PDF = b"%PDF-1.7\n% evidence of a paid fine\n" + b"0" * 200


def _enrol(client: TestClient, keys: dict[str, str], idn: str, name: str, *, breach: str | None = None) -> None:
    batches = basic_records(idn, name, idn[-6:])
    if breach:
        occurred = (today_in_shaoxing() - timedelta(days=10)).isoformat()
        attrs = {"severity": "grave", "decision_ref": "j-1", "category": "contract"}
        batches[COURT] = [record("pledge_breach", attrs, ref=breach, id_number=idn, name=name, occurred_at=occurred)]
    for unit, batch in batches.items():
        resp = client.post("/v1/ingest/records", json=batch, headers=auth(keys[unit]))
        assert resp.json()["accepted"] == 1, resp.text


def _me(gw: Gateway, idn: str, name: str) -> dict[str, str]:
    return auth(DevIdentityProvider(gw.settings).issue_id_token(idn, name))


def _breach_ref(client: TestClient, me: dict[str, str]) -> str:
    score = client.get("/v1/me/score", headers=me).json()
    entry = next(e for e in score["breakdown"] if e["indicator"] == "breach_grave")
    ref: str = entry["records"][0]["ref"]
    return ref


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    return body


def test_evidence_upload(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=501), "李四"
    me = _me(gw, idn, name)
    headers = {**me, "Content-Type": "application/pdf"}
    assert client.post("/v1/me/evidence", content=PDF, headers={"Content-Type": "application/pdf"}).status_code == 401

    resp = client.post("/v1/me/evidence", content=PDF, headers=headers)
    assert resp.status_code == 201, resp.text
    digest = hashlib.sha256(PDF).hexdigest()
    assert resp.json() == {"sha256": digest, "media_type": "application/pdf", "size": len(PDF)}
    # In the shared database, not on this process's disk (issue 12): one row, one owner.
    assert client.post("/v1/me/evidence", content=PDF, headers=headers).json()["sha256"] == digest
    with gw.engine.connect() as conn:
        assert conn.execute(select(evidence_files.c.sha256, evidence_files.c.content)).all() == [(digest, PDF)]
        (tag,) = conn.execute(select(evidence_owners.c.owner_tag)).scalars().all()
    assert len(tag) == 32 and tag != gw.hasher.id_hash(idn)[:32]  # a hash of the pair, not the key itself
    assert not (gw.settings.data_dir / "evidence").exists()

    text = client.post("/v1/me/evidence", content=b"hello", headers={**me, "Content-Type": "text/plain"})
    _problem(text, 415, "evidence_type_not_allowed")
    disguised = client.post("/v1/me/evidence", content=b"\x89PNG\r\n\x1a\n..", headers=headers)
    _problem(disguised, 415, "evidence_type_mismatch")
    _problem(client.post("/v1/me/evidence", content=b"", headers=headers), 400, "evidence_empty")
    gw.settings = replace(gw.settings, evidence_max_bytes=1024)
    big = client.post("/v1/me/evidence", content=b"%PDF-" + b"x" * 2000, headers=headers)
    assert _problem(big, 413, "evidence_too_large")["max_bytes"] == 1024
    assert "%PDF" not in big.text and "hello" not in text.text

    officer = auth(keys["officer"])
    served = client.get(f"/v1/officer/evidence/{digest}", headers=officer)
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["content-type"] == "application/pdf" and served.headers["cache-control"] == "no-store"
    _problem(client.get(f"/v1/officer/evidence/{'0' * 64}", headers=officer), 404, "evidence_not_found")
    assert client.get(f"/v1/officer/evidence/{digest}", headers=me).status_code == 401


def test_objection_workflow(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=502), "陈小红"
    _enrol(client, keys, idn, name, breach="api-502-b")
    me = _me(gw, idn, name)
    officer = auth(keys["officer"])
    ref = _breach_ref(client, me)
    before = client.get("/v1/me/score", headers=me).json()["score"]
    evidence = client.post("/v1/me/evidence", content=PDF, headers={**me, "Content-Type": "application/pdf"}).json()

    body = {"target": ref, "statement": "The fine was paid; see the receipt.", "evidence": [evidence["sha256"]]}
    filed = client.post("/v1/me/objections", json=body, headers=me)
    assert filed.status_code == 201, filed.text
    oid = filed.json()["id"]
    assert filed.json()["evidence"] == [evidence] and filed.json()["state"] == "submitted"
    _problem(client.post("/v1/me/objections", json={**body, "target": "r:0"}, headers=me), 422, "validation_failed")
    _problem(
        client.post("/v1/me/objections", json={**body, "target": "r:99999"}, headers=me),
        422,
        "objection_target_invalid",
    )

    queue = client.get("/v1/officer/objections", headers=officer)
    assert queue.status_code == 200 and [i["id"] for i in queue.json()["items"]] == [oid]
    admin = auth(gw.admins.issue("mapper", ["mapping_admin"]))
    _problem(client.get("/v1/officer/objections", headers=admin), 403, "forbidden")
    assert client.get("/v1/officer/objections", headers=me).status_code == 401  # a resident is no officer

    one = client.get(f"/v1/officer/objections/{oid}", headers=officer)
    assert one.headers["etag"] == '"r1"' and one.json()["person"]["name_masked"] == "陈**"
    stale = client.post(f"/v1/officer/objections/{oid}/review", headers={**officer, "If-Match": '"r9"'})
    assert _problem(stale, 412, "objection_precondition_failed")["current_etag"] == '"r1"'
    review = client.post(
        f"/v1/officer/objections/{oid}/review", json={"reason": "mine"}, headers={**officer, "If-Match": '"r1"'}
    )
    assert review.status_code == 200 and review.headers["etag"] == '"r2"'
    again = client.post(f"/v1/officer/objections/{oid}/review", headers=officer)
    assert _problem(again, 409, "objection_state_conflict")["state"] == "under_review"

    decision = {"outcome": "upheld", "answer": "Confirmed with the court.", "record_action": "correct"}
    decided = client.post(
        f"/v1/officer/objections/{oid}/decision", json=decision, headers={**officer, "If-Match": '"r2"'}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["result"]["record"] == {"ref": ref, "before": "valid", "after": "corrected"}
    repeat = client.post(f"/v1/officer/objections/{oid}/decision", json=decision, headers=officer)
    assert _problem(repeat, 409, "objection_state_conflict")["state"] == "upheld"

    [mine] = client.get("/v1/me/objections", headers=me).json()
    assert (mine["state"], mine["answer"]) == ("upheld", "Confirmed with the court.")
    after = client.get("/v1/me/score", headers=me).json()
    assert after["score"] == before + 200 and ref not in str(after["breakdown"])
    assert client.get("/v1/officer/objections", headers=officer).json()["items"] == []


def test_repair_over_http(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=503), "赵六"
    _enrol(client, keys, idn, name, breach="api-503-b")
    me = _me(gw, idn, name)
    ref = _breach_ref(client, me)
    before = client.get("/v1/me/score", headers=me).json()["score"]
    body = {"source_ref": "api-503-b", "decision_ref": "SX-REPAIR-1"}
    other_unit = client.post("/v1/ingest/repairs", json=body, headers=auth(keys["sx-transport"]))
    _problem(other_unit, 404, "record_not_found")
    assert client.post("/v1/ingest/repairs", json=body, headers=auth(keys["officer"])).status_code == 401

    repaired = client.post("/v1/ingest/repairs", json=body, headers=auth(keys[COURT]))
    assert repaired.status_code == 200 and repaired.json()["changed"] is True
    assert "score" not in repaired.json()
    assert client.get("/v1/me/score", headers=me).json()["score"] == before + 200

    officer = auth(keys["officer"])
    retry = client.post(f"/v1/officer/records/{ref}/repair", json={"decision_ref": "SX-REPAIR-1"}, headers=officer)
    assert retry.status_code == 200 and retry.json()["changed"] is False
    conflict = client.post(f"/v1/officer/records/{ref}/repair", json={"decision_ref": "other"}, headers=officer)
    assert _problem(conflict, 409, "record_state_conflict")["current_status"] == "repaired"
    evaluation = client.post("/v1/officer/records/p:1/repair", json={"decision_ref": "x"}, headers=officer)
    _problem(evaluation, 422, "record_not_repairable")  # a provincial evaluation is not negative
    bad = client.post("/v1/officer/records/q:1/repair", json={"decision_ref": "x"}, headers=officer)
    assert bad.status_code == 422


def test_status_lists_over_http(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    clock = Clock(time.time())
    gw.status_lists.now = clock
    idn, name = make_id(seq=504), "郑一"
    _enrol(client, keys, idn, name)
    me = _me(gw, idn, name)
    consent = {"audience": BANK, "purposes": ["loan_discount"], "valid_days": 30, "channel": "app"}
    consent_id = client.post("/v1/me/consents", json=consent, headers=me).json()["id"]
    issued = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount"},
        headers=auth(access_token(client, BANK)),
    )
    claims = jwt.decode(issued.json()["assertion"], options={"verify_signature": False})
    Draft202012Validator(client.get("/schemas/score-assertion.schema.json").json()).validate(claims)
    reference = claims["status"]["status_list"]
    uri, idx = reference["uri"], reference["idx"]
    assert uri == f"{gw.settings.issuer}/status-lists/1" and 0 <= idx < gw.settings.status_list_size

    def fetch() -> tuple[Any, int]:
        resp = client.get(uri.removeprefix(gw.settings.issuer))
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/statuslist+jwt"
        max_age = int(resp.headers["cache-control"].removeprefix("public, max-age="))
        assert 0 <= max_age <= gw.settings.status_list_max_age
        jwks = parse_jwks(client.get("/.well-known/jwks.json").json()).keys
        token = verify_status_list_token(resp.text, uri=uri, keys=jwks, issuer=gw.settings.issuer, now=clock)
        return token, max_age

    token, max_age = fetch()
    assert token.status(idx) == Status.VALID and max_age == gw.settings.status_list_max_age
    assert client.delete(f"/v1/me/consents/{consent_id}", headers=me).status_code == 200
    clock.advance(gw.settings.status_list_max_age / 2)
    _, max_age = fetch()
    assert max_age == gw.settings.status_list_max_age / 2  # our cache and an HTTP cache never add up past the bound
    clock.advance(gw.settings.status_list_max_age / 2)
    token, _ = fetch()
    assert token.status(idx) == Status.INVALID

    _problem(client.get("/status-lists/99"), 404, "status_list_not_found")
    assert client.get("/status-lists/0").status_code == 422
