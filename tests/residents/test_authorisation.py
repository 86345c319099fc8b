"""The scoring authorisation belongs to the resident (issue 9 §1; measure 一(一); PIPL Art. 47)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jwt
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from gateway.clock import today_in_shaoxing, utcnow
from gateway.config import PROJECT_ROOT
from gateway.exchange import Status, parse_jwks
from gateway.exchange.status_list import verify_status_list_token
from gateway.services.residents.retention import run_retention
from gateway.store.tables import audit_log, consents, status_slots
from gateway.store.tables_scaleout import evidence_files, evidence_owners
from tests.residents.helpers import OFFICER_WHY, enrol_without_authorisation, h, login, person_of, traces
from tests.support import make_id, record
from tests.support.partners import access_token

BANK = "sx-example-bank"
CONSENT = {"audience": BANK, "purposes": ["loan_discount"], "disclosure": "tier", "valid_days": 30, "channel": "app"}


def _assertion(client: TestClient, bank: str, idn: str, name: str) -> Any:
    return client.post(
        "/v1/assertions",
        json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount", "disclosure": "tier"},
        headers=h(bank),
    )


def _lookup(client: TestClient, keys: dict[str, str], idn: str) -> Any:
    return client.post("/v1/officer/score-lookups", json={"id_number": idn, **OFFICER_WHY}, headers=h(keys["officer"]))


def test_grant_scores_at_once_and_records_channel_and_notice(client: TestClient, gw: Any, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=901), "张三"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    assert client.get("/v1/me/score", headers=me).json()["reason"] == "no_authorisation"
    assert client.get("/v1/me/authorisation", headers=me).json()["status"] == "none"

    resp = client.post(
        "/v1/me/authorisation",
        json={"channel": "wechat", "notice_id": "sx-scoring-notice", "notice_version": "2026.1"},
        headers=me,
    )
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert view["status"] == "granted" and view["channel"] == "wechat"
    assert view["score"]["status"] == "scored" and view["score"]["score"] > 0
    event = view["events"][-1]
    assert event["decision"] == "granted" and event["notice"] == {"id": "sx-scoring-notice", "version": "2026.1"}
    assert client.get("/v1/me/score", headers=me).json()["status"] == "scored"
    # Granting again changes nothing (still one grant).
    again = client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).json()
    assert len([e for e in again["events"] if e["decision"] == "granted"]) == 1


def test_unknown_notice_version_is_refused(client: TestClient, gw: Any) -> None:
    me = login(gw, make_id(seq=902), "李四")
    for body in (
        {"channel": "app", "notice_id": "sx-scoring-notice", "notice_version": "1999.1"},
        {"channel": "app", "notice_id": "sx-disclosure-notice", "notice_version": "2026.1"},  # wrong kind
    ):
        resp = client.post("/v1/me/authorisation", json=body, headers=me)
        assert resp.status_code == 422 and resp.json()["code"] == "notice_version_unknown"
    assert client.get("/v1/me/authorisation", headers=me).json()["status"] == "none"


def test_notices_are_served_and_valid(client: TestClient) -> None:
    schema = json.loads((PROJECT_ROOT / "schemas" / "notice.schema.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    anonymous = client  # no credentials: notices are public
    for notice_id in ("sx-scoring-notice", "sx-disclosure-notice"):
        doc = anonymous.get(f"/notices/{notice_id}").json()
        assert not list(validator.iter_errors(doc)), notice_id
        # Every fact PIPL Art. 17 asks for, in both languages.
        for fact in ("purpose", "processing_method", "retention", "withdrawal", "rights"):
            assert doc[fact]["zh"] and doc[fact]["en"]
        assert doc["controller"]["contact"]["email"] and doc["data_categories"]
        assert anonymous.get(f"/notices/{notice_id}", params={"version": doc["version"]}).json() == doc
    missing = anonymous.get("/notices/sx-scoring-notice", params={"version": "1999.1"})
    assert missing.status_code == 404 and missing.json()["code"] == "notice_not_found"


def test_consent_refused_without_authorisation(client: TestClient, gw: Any, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=903), "王五"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    resp = client.post("/v1/me/consents", json=CONSENT, headers=me)
    assert resp.status_code == 409 and resp.json()["code"] == "authorisation_missing"
    assert idn not in resp.text and name not in resp.text
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).raise_for_status()
    assert client.post("/v1/me/consents", json=CONSENT, headers=me).status_code == 201


def test_withdrawal_cascades_then_deletes_everything_after_the_window(
    client: TestClient, gw: Any, keys: dict[str, str]
) -> None:
    idn, name = make_id(seq=904), "赵六"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).raise_for_status()
    consent = client.post("/v1/me/consents", json=CONSENT, headers=me).json()
    bank = access_token(client, BANK)
    issued = _assertion(client, bank, idn, name)
    assert issued.status_code == 201, issued.text
    jti = issued.json()["jti"]
    client.post("/v1/me/statements", json={"record": "p:1", "statement": "本人声明"}, headers=me)
    assert _lookup(client, keys, idn).status_code == 200

    resp = client.delete("/v1/me/authorisation", headers=me)
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert view["status"] == "withdrawn" and view["records_deleted_after"]
    assert view["score"] == {"status": "none", "reason": "authorisation_withdrawn"}
    # Officers and partners see "no score", with the reason.
    officer = _lookup(client, keys, idn).json()
    assert officer["eligible"] is False and officer["reason"] == "authorisation_withdrawn" and officer["score"] is None
    assert _assertion(client, bank, idn, name).json()["code"] == "disclosure_refused"
    with gw.engine.connect() as conn:
        ended = conn.execute(select(consents.c.revoked_at).where(consents.c.id == consent["id"])).scalar_one()
        slot = conn.execute(select(status_slots.c.status).where(status_slots.c.jti == jti)).scalar_one()
    assert ended is not None and slot == int(Status.INVALID)
    # What a verifier sees: the published status list, verified with the JWKS, says INVALID.
    reference = jwt.decode(issued.json()["assertion"], options={"verify_signature": False})["status"]["status_list"]
    served = client.get(reference["uri"].removeprefix(gw.settings.issuer))
    assert served.status_code == 200
    listed = verify_status_list_token(
        served.text,
        uri=reference["uri"],
        keys=parse_jwks(client.get("/.well-known/jwks.json").json()).keys,
        issuer=gw.settings.issuer,
    )
    assert listed.status(reference["idx"]) == Status.INVALID
    # A second withdrawal has nothing to withdraw.
    assert client.delete("/v1/me/authorisation", headers=me).json()["code"] == "authorisation_missing"

    person = person_of(gw, idn)
    assert person is not None
    # Inside the window nothing is deleted; after it, everything is.
    inside = run_retention(gw, now=utcnow() + timedelta(days=29))
    assert inside.withdrawn_people_deleted == 0 and traces(gw, person.id, person.id_hash)
    after = run_retention(gw, now=utcnow() + timedelta(days=31))
    assert after.withdrawn_people_deleted == 1
    assert traces(gw, person.id, person.id_hash) == {}
    assert person_of(gw, idn) is None
    assert client.get("/v1/me/score", headers=me).json()["code"] == "person_unknown"
    with gw.engine.connect() as conn:
        entry = conn.execute(
            select(audit_log.c.details).where(audit_log.c.action == "retention.run").order_by(audit_log.c.id.desc())
        ).first()
    assert entry is not None and entry.details["withdrawn_people_deleted"] == 1
    assert entry.details["rows_deleted"]["people"] == 1
    text = json.dumps(entry.details, ensure_ascii=False)
    assert person.id_hash not in text and idn not in text and name not in text


def test_regrant_inside_the_window_restores_without_reingestion(
    client: TestClient, gw: Any, keys: dict[str, str]
) -> None:
    idn, name = make_id(seq=905), "钱七"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    first = client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).json()["score"]
    client.delete("/v1/me/authorisation", headers=me).raise_for_status()
    regranted = client.post("/v1/me/authorisation", json={"channel": "kiosk"}, headers=me).json()
    assert regranted["status"] == "granted" and regranted["records_deleted_after"] is None
    assert regranted["score"] == first
    report = run_retention(gw, now=utcnow() + timedelta(days=60))
    assert report.withdrawn_people_deleted == 0
    assert client.get("/v1/me/score", headers=me).json()["score"] == first["score"]


def test_unauthorised_records_are_quarantined_then_deleted(client: TestClient, gw: Any, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=906), "孙八"
    enrol_without_authorisation(client, keys, idn, name)
    # Never shown to officers: the same 404 as for a person the gateway does not know.
    quarantined = _lookup(client, keys, idn)
    unknown = _lookup(client, keys, make_id(seq=999))
    assert quarantined.status_code == unknown.status_code == 404
    assert quarantined.json()["detail"] == unknown.json()["detail"]
    person = person_of(gw, idn)
    assert person is not None
    # Kept until the limit, then gone from every table (keyed hashes included).
    assert run_retention(gw, now=utcnow() + timedelta(days=179)).unauthorised_records_deleted == 0
    report = run_retention(gw, now=utcnow() + timedelta(days=181))
    assert report.unauthorised_records_deleted == 2 and report.unauthorised_people_deleted == 1
    assert traces(gw, person.id, person.id_hash) == {}


def test_authorised_people_are_not_touched_by_the_quarantine_rule(
    client: TestClient, gw: Any, keys: dict[str, str]
) -> None:
    idn, name = make_id(seq=907), "周九"
    enrol_without_authorisation(client, keys, idn, name)
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=login(gw, idn, name)).raise_for_status()
    report = run_retention(gw, now=utcnow() + timedelta(days=400))
    assert report.as_dict()["unauthorised_people_deleted"] == 0 and person_of(gw, idn) is not None


def test_ingestion_answers_identical_for_authorised_and_unauthorised(
    client: TestClient, gw: Any, keys: dict[str, str]
) -> None:
    authorised, unauthorised = make_id(seq=908), make_id(seq=909)
    for idn in (authorised, unauthorised):
        enrol_without_authorisation(client, keys, idn, "吴十")
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=login(gw, authorised, "吴十"))
    answers = []
    for idn in (authorised, unauthorised):
        batch = [record("volunteer_service", {"hours": 20}, ref=f"v-{idn[-4:]}", id_number=idn, name="吴十")]
        resp = client.post("/v1/ingest/records", json=batch, headers=h(keys["sx-volunteer-federation"]))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        body.pop("batch_id")
        answers.append((resp.status_code, body, sorted(resp.headers.keys())))
    assert answers[0] == answers[1]


def test_officer_counter_channel(client: TestClient, gw: Any, keys: dict[str, str]) -> None:
    idn, name = make_id(seq=910), "郑一"
    enrol_without_authorisation(client, keys, idn, name)
    body = {"id_number": idn, "name": name, "decision": "granted", "case_reference": "CTR-77"}
    # Units cannot record a resident's authorisation; officers can.
    denied = client.post("/v1/officer/authorisations", json=body, headers=h(keys["sx-public-security"]))
    assert denied.status_code in (401, 403)
    resp = client.post("/v1/officer/authorisations", json=body, headers=h(keys["officer"]))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "granted" and resp.json()["channel"] == "counter"
    assert idn not in resp.text and name not in resp.text and "score" not in resp.json()
    assert _lookup(client, keys, idn).json()["eligible"] is True
    with gw.engine.connect() as conn:
        row = conn.execute(
            select(audit_log.c.actor_type, audit_log.c.actor_id, audit_log.c.details).where(
                audit_log.c.action == "authorisation.grant"
            )
        ).one()
    assert (row.actor_type, row.actor_id) == ("officer", "officer-007")
    assert row.details["case_ref"] == "CTR-77" and row.details["channel"] == "counter"
    withdrawn = client.post(
        "/v1/officer/authorisations", json={**body, "decision": "withdrawn"}, headers=h(keys["officer"])
    )
    assert withdrawn.json()["status"] == "withdrawn"


def test_counter_withdrawal_pushed_by_the_credit_centre_cascades(
    client: TestClient, gw: Any, keys: dict[str, str]
) -> None:
    """The ingestion item scoring_authorisation is the counter channel's record: a withdrawal the
    credit centre pushes ends consents and revokes assertions like one given in the app."""
    idn, name = make_id(seq=911), "冯二"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).raise_for_status()
    consent = client.post("/v1/me/consents", json=CONSENT, headers=me).json()
    jti = _assertion(client, access_token(client, BANK), idn, name).json()["jti"]
    batch = [
        record(
            "scoring_authorisation",
            {"decision": "withdrawn", "channel": "counter"},
            ref="ctr-w",
            id_number=idn,
            name=name,
            occurred_at=today_in_shaoxing().isoformat(),
        )
    ]
    client.post("/v1/ingest/records", json=batch, headers=h(keys["sx-credit-center"])).raise_for_status()
    assert client.get("/v1/me/authorisation", headers=me).json()["status"] == "withdrawn"
    with gw.engine.connect() as conn:
        assert conn.execute(select(consents.c.revoked_at).where(consents.c.id == consent["id"])).scalar_one()
        slot = conn.execute(select(status_slots.c.status).where(status_slots.c.jti == jti)).scalar_one()
    assert slot == int(Status.INVALID)


def test_officer_lookup_without_purpose_is_refused(client: TestClient, keys: dict[str, str]) -> None:
    for body in (
        {"id_number": make_id(seq=912)},
        {"id_number": make_id(seq=912), "purpose": "loan review"},
        {"id_number": make_id(seq=912), "case_reference": "C-1"},
        {"id_number": make_id(seq=912), "purpose": "", "case_reference": "C-1"},
    ):
        resp = client.post("/v1/officer/score-lookups", json=body, headers=h(keys["officer"]))
        assert resp.status_code == 422 and resp.json()["code"] == "validation_failed"


def test_retention_deletes_objection_evidence_files(client: TestClient, gw: Any, keys: dict[str, str]) -> None:
    pdf = b"%PDF-1.7\n% evidence of a paid fine\n" + b"1" * 200
    idn, name = make_id(seq=913), "卫三"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).raise_for_status()
    uploaded = client.post("/v1/me/evidence", content=pdf, headers={**me, "Content-Type": "application/pdf"})
    assert uploaded.status_code in (200, 201), uploaded.text
    digest = uploaded.json()["sha256"]
    # The same file uploaded by someone else stays for them.
    other = login(gw, make_id(seq=914), "卫四")
    client.post("/v1/me/evidence", content=pdf, headers={**other, "Content-Type": "application/pdf"})

    def held() -> tuple[int, int]:  # (files with these bytes, their uploaders): shared rows in the database
        with gw.engine.connect() as conn:
            files = conn.execute(select(func.count()).where(evidence_files.c.sha256 == digest)).scalar_one()
            owners = conn.execute(select(func.count()).where(evidence_owners.c.sha256 == digest)).scalar_one()
        return files, owners

    assert held() == (1, 2)
    client.delete("/v1/me/authorisation", headers=me).raise_for_status()
    run_retention(gw, now=utcnow() + timedelta(days=31))
    assert held() == (1, 1)
    # Once its last uploader is deleted too, the file goes.
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=other).raise_for_status()
    client.delete("/v1/me/authorisation", headers=other).raise_for_status()
    report = run_retention(gw, now=utcnow() + timedelta(days=31))
    assert report.evidence_files_deleted == 1 and held() == (0, 0)
