"""Issue 14 over HTTP: a disputed record suspends the assertions depending on it (status list and
/v1/recognitions), the objection is forwarded to the supplying unit (协查) which answers, and each of
the three outcomes ends the suspension its own way; every transition is in the audit log."""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.clock import today_in_shaoxing, utcnow
from gateway.exchange import Status, StatusList
from gateway.services.context import Gateway
from gateway.services.exchange.status_lists import StatusListService
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import audit_log, information_records
from gateway.store.tables_operations import webhook_outbox
from gateway.store.tables_rights import objection_deadlines
from tests.support import basic_records, make_id, record
from tests.support.partners import access_token

BANK = "sx-example-bank"
COURT = "sx-intermediate-court"
OTHER_UNIT = "sx-public-security"

WHY = {"purpose": "objection review", "case_reference": "OBJ-2026-7"}  # officer look-ups state both


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class World:
    """One resident with a grave breach supplied by the court, a tier assertion held by the bank."""

    def __init__(self, client: TestClient, gw: Gateway, keys: dict[str, str], seq: int) -> None:
        self.client, self.gw, self.keys = client, gw, keys
        self.idn, name = make_id(seq=seq), "陈一"
        for unit, batch in basic_records(self.idn, name, f"d{seq}").items():
            assert client.post("/v1/ingest/records", json=batch, headers=_h(keys[unit])).json()["accepted"] == 1
        occurred = (today_in_shaoxing() - timedelta(days=30)).isoformat()
        attrs = {"severity": "grave", "decision_ref": "d-1", "category": "contract"}
        breach = record("pledge_breach", attrs, ref=f"d{seq}-b", id_number=self.idn, name=name, occurred_at=occurred)
        assert client.post("/v1/ingest/records", json=[breach], headers=_h(keys[COURT])).json()["accepted"] == 1
        with gw.engine.connect() as conn:
            rid = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == f"d{seq}-b"))
            self.ref = f"r:{rid.scalar_one()}"
        self.source_ref = f"d{seq}-b"
        self.resident = _h(DevIdentityProvider(gw.settings).issue_id_token(self.idn, name))
        consent = {"audience": BANK, "purposes": ["loan_discount"], "valid_days": 7, "channel": "app"}
        client.post("/v1/me/consents", json=consent, headers=self.resident).raise_for_status()
        self.bank = _h(access_token(client, BANK))
        self.officer = _h(keys["officer"])
        self.assertion = self.issue()

    def issue(self) -> str:
        body = {"subject": {"id_number": self.idn, "name": "陈一"}, "purpose": "loan_discount"}
        resp = self.client.post("/v1/assertions", json=body, headers=self.bank)
        assert resp.status_code == 201, resp.text
        token: str = resp.json()["assertion"]
        return token

    def listed_status(self, assertion: str | None = None) -> int:
        """The assertion's entry in the served status list (a fresh service: no cached copy)."""
        claims = jwt.decode(assertion or self.assertion, options={"verify_signature": False})
        ref = claims["status"]["status_list"]
        self.gw.status_lists = StatusListService(self.gw.settings, self.gw.engine, self.gw.keyring)
        served = self.client.get(ref["uri"].removeprefix(self.gw.settings.issuer))
        assert served.status_code == 200
        payload = jwt.decode(served.text, options={"verify_signature": False})
        return StatusList.decode(payload["status_list"]).get(ref["idx"])

    def recognise(self, assertion: str | None = None) -> httpx.Response:
        return self.client.post("/v1/recognitions", json={"assertion": assertion or self.assertion}, headers=self.bank)

    def object(self, target: str | None = None) -> dict[str, Any]:
        body = {"target": target or self.ref, "statement": "This breach is not mine."}
        resp = self.client.post("/v1/me/objections", json=body, headers=self.resident)
        assert resp.status_code == 201, resp.text
        filed: dict[str, Any] = resp.json()
        return filed

    def review(self, oid: str) -> None:
        resp = self.client.post(f"/v1/officer/objections/{oid}/review", headers=self.officer)
        assert resp.status_code == 200, resp.text

    def decide(self, oid: str, outcome: str, **extra: Any) -> dict[str, Any]:
        body = {"outcome": outcome, "answer": f"Answer: {outcome}.", **extra}
        resp = self.client.post(f"/v1/officer/objections/{oid}/decision", json=body, headers=self.officer)
        assert resp.status_code == 200, resp.text
        decided: dict[str, Any] = resp.json()
        return decided

    def record_status(self) -> str:
        with self.gw.engine.connect() as conn:
            t = information_records
            return str(conn.execute(select(t.c.status).where(t.c.source_ref == self.source_ref)).scalar_one())

    def audit(self, target_ref: str) -> list[str]:
        with self.gw.engine.connect() as conn:
            t = audit_log
            rows = conn.execute(select(t.c.action).where(t.c.target_ref == target_ref).order_by(t.c.id))
            return [r.action for r in rows]


@pytest.fixture
def world(client: TestClient, gw: Gateway, keys: dict[str, str], request: pytest.FixtureRequest) -> World:
    return World(client, gw, keys, 400 + zlib.crc32(request.node.name.encode()) % 500)


def _problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code


def test_an_open_objection_suspends_and_rejection_makes_the_assertion_valid_again(world: World) -> None:
    assert world.listed_status() == Status.VALID and world.recognise().status_code == 200
    filed = world.object()
    assert world.listed_status() == Status.SUSPENDED
    _problem(world.recognise(), 403, "assertion_suspended")
    # An assertion issued while the objection is open is suspended as it is issued.
    during = world.issue()
    assert world.listed_status(during) == Status.SUSPENDED
    _problem(world.recognise(during), 403, "assertion_suspended")

    # Marked disputed in the resident's report, its breakdown, and the officer view.
    mine = world.client.get("/v1/me/score", headers=world.resident).json()
    assert mine["disputed"] is True and mine["disputed_records"] == [world.ref]
    marked = [r for e in mine["breakdown"] for r in e["records"] if r["ref"] == world.ref]
    assert marked and all(r["disputed"] for r in marked)
    lookup = world.client.post(
        "/v1/officer/score-lookups",
        json={"id_number": world.idn, **WHY},
        headers=world.officer,
    )
    assert lookup.json()["disputed_records"] == [world.ref]

    world.review(filed["id"])
    decided = world.decide(filed["id"], "rejected")
    assert decided["result"]["assertions"] == {"released": 2, "superseded": 0}
    assert world.listed_status() == Status.VALID and world.listed_status(during) == Status.VALID
    assert world.recognise().status_code == 200
    assert world.client.get("/v1/me/score", headers=world.resident).json()["disputed"] is False
    assert world.audit(filed["id"]) == ["objection.submit", "objection.review", "objection.rejected"]
    with world.gw.engine.connect() as conn:
        t = audit_log
        details = [
            r.details for r in conn.execute(select(t.c.details).where(t.c.target_ref == filed["id"]).order_by(t.c.id))
        ]
    assert details[0]["suspended_assertions"] == 1
    assert details[-1]["assertions"] == {"released": 2, "superseded": 0}


def test_the_holder_is_told_of_the_suspension_and_of_its_end_by_webhook(world: World) -> None:
    # Issue 14 meets issue 13: a signed event per holder, queued in the transaction that suspends.
    jti = jwt.decode(world.assertion, options={"verify_signature": False})["jti"]

    def events() -> list[tuple[str, str, list[str]]]:
        with world.gw.engine.connect() as conn:
            o = webhook_outbox
            rows = conn.execute(select(o.c.partner_id, o.c.event_type, o.c.data).order_by(o.c.created_at, o.c.event_id))
            return [(r.partner_id, r.event_type, r.data["jtis"]) for r in rows if r.event_type.startswith("assertion.")]

    filed = world.object()
    assert events() == [(BANK, "assertion.suspended", [jti])]
    world.review(filed["id"])
    world.decide(filed["id"], "rejected")
    assert events() == [(BANK, "assertion.suspended", [jti]), (BANK, "assertion.reinstated", [jti])]


def test_an_upheld_objection_supersedes_the_suspended_assertion(world: World) -> None:
    filed = world.object()
    world.review(filed["id"])
    decided = world.decide(filed["id"], "upheld", record_action="correct")
    assert decided["result"]["assertions"]["superseded"] >= 1
    assert world.record_status() == "corrected"
    assert world.listed_status() == Status.SUPERSEDED
    _problem(world.recognise(), 403, "assertion_superseded")
    # Its holder heard of the suspension, and is not told it is valid again: it is told it is superseded.
    jti = jwt.decode(world.assertion, options={"verify_signature": False})["jti"]
    with world.gw.engine.connect() as conn:
        o = webhook_outbox
        told = [
            (r.partner_id, r.event_type, r.data["jtis"])
            for r in conn.execute(
                select(o.c.partner_id, o.c.event_type, o.c.data)
                .where(o.c.event_type.like("assertion.%"))
                .order_by(o.c.created_at, o.c.id)
            )
        ]
    assert told == [(BANK, "assertion.suspended", [jti]), (BANK, "assertion.superseded", [jti])]


def test_a_score_objection_suspends_and_releases_every_live_assertion(world: World) -> None:
    # A score objection suspends everything; a record objection only what depends on the record.
    score_objection = world.object("score")
    assert world.listed_status() == Status.SUSPENDED
    world.review(score_objection["id"])
    world.decide(score_objection["id"], "rejected")
    assert world.listed_status() == Status.VALID


def test_forwarding_to_the_supplying_unit_and_its_answer(world: World) -> None:
    filed = world.object()
    oid = filed["id"]
    # Not yet under review: nothing to forward.
    resp = world.client.post(
        f"/v1/officer/objections/{oid}/verification-requests", json={"question": "Check"}, headers=world.officer
    )
    _problem(resp, 409, "objection_state_conflict")
    world.review(oid)
    resp = world.client.post(
        f"/v1/officer/objections/{oid}/verification-requests",
        json={"question": "Is this breach recorded correctly?"},
        headers=world.officer,
    )
    assert resp.status_code == 201, resp.text
    [check] = resp.json()["verification_requests"]
    assert (check["unit"], check["source_ref"], check["state"]) == (COURT, world.source_ref, "open")
    assert resp.json()["deadlines"]["forward"]["met_at"] is not None
    assert resp.json()["deadlines"]["unit_answer"]["met_at"] is None

    court = _h(world.keys[COURT])
    listed = world.client.get("/v1/units/verification-requests", headers=court).json()
    assert [i["id"] for i in listed["items"]] == [check["id"]] and listed["overdue"] == 0
    assert "objection_id" not in listed["items"][0] and "陈" not in str(listed)
    # Another unit sees nothing and cannot answer it (the same answer as an unknown id).
    other = _h(world.keys[OTHER_UNIT])
    assert world.client.get("/v1/units/verification-requests", headers=other).json()["items"] == []
    answer = {"answer": "correct", "reference": "court-2026-17", "note": "Recorded against the wrong person."}
    _problem(
        world.client.post(f"/v1/units/verification-requests/{check['id']}/answer", json=answer, headers=other),
        404,
        "verification_request_not_found",
    )
    # An officer's key is not a unit's token.
    resp = world.client.get("/v1/units/verification-requests", headers=world.officer)
    assert resp.status_code == 401
    answered = world.client.post(f"/v1/units/verification-requests/{check['id']}/answer", json=answer, headers=court)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["answer"], answered.json()["answer_ref"]) == ("correct", "court-2026-17")
    again = world.client.post(f"/v1/units/verification-requests/{check['id']}/answer", json=answer, headers=court)
    _problem(again, 409, "verification_request_closed")

    seen = world.client.get(f"/v1/officer/objections/{oid}", headers=world.officer).json()
    assert seen["verification_requests"][0]["answer_note"] == "Recorded against the wrong person."
    assert seen["deadlines"]["unit_answer"]["met_at"] is not None
    world.decide(oid, "upheld", record_action="correct")
    assert world.audit(oid) == [
        "objection.submit",
        "objection.review",
        "objection.forward",
        "verification.answer",
        "objection.upheld",
    ]


@pytest.mark.parametrize("unit_answer", ["confirm", "cannot_confirm"])
def test_each_unit_answer_reaches_the_officer(world: World, unit_answer: str) -> None:
    oid = world.object()["id"]
    world.review(oid)
    world.client.post(
        f"/v1/officer/objections/{oid}/verification-requests", json={"question": "Check"}, headers=world.officer
    ).raise_for_status()
    court = _h(world.keys[COURT])
    [item] = world.client.get("/v1/units/verification-requests", headers=court).json()["items"]
    body = {"answer": unit_answer, "reference": "c-1", "note": "Checked."}
    world.client.post(f"/v1/units/verification-requests/{item['id']}/answer", json=body, headers=court)
    seen = world.client.get(f"/v1/officer/objections/{oid}", headers=world.officer).json()
    assert seen["verification_requests"][0]["answer"] == unit_answer
    answered = world.client.get("/v1/units/verification-requests?state=answered", headers=court).json()
    assert [i["answer"] for i in answered["items"]] == [unit_answer]


def test_a_score_objection_cannot_be_forwarded(world: World) -> None:
    oid = world.object("score")["id"]
    world.review(oid)
    resp = world.client.post(
        f"/v1/officer/objections/{oid}/verification-requests", json={"question": "?"}, headers=world.officer
    )
    _problem(resp, 422, "verification_not_applicable")


def test_cannot_confirm_by_default_stops_the_record_counting_and_notes_it(world: World) -> None:
    before = world.client.get("/v1/me/score", headers=world.resident).json()["score"]
    oid = world.object()["id"]
    world.review(oid)
    world.client.post(
        f"/v1/officer/objections/{oid}/verification-requests", json={"question": "Check"}, headers=world.officer
    ).raise_for_status()
    court = _h(world.keys[COURT])
    [item] = world.client.get("/v1/units/verification-requests", headers=court).json()["items"]
    body = {"answer": "cannot_confirm", "reference": "c-9", "note": "The file is lost."}
    world.client.post(f"/v1/units/verification-requests/{item['id']}/answer", json=body, headers=court)
    decided = world.decide(oid, "cannot_confirm")
    assert decided["state"] == "cannot_confirm"
    assert decided["result"]["record"] == {"ref": world.ref, "before": "valid", "after": "unconfirmed", "counts": False}
    assert world.record_status() == "unconfirmed"
    mine = world.client.get("/v1/me/score", headers=world.resident).json()
    assert mine["score"] == before + 200  # the grave breach no longer counts
    [note] = mine["record_notes"]
    assert (note["ref"], note["kind"], note["counts"]) == (world.ref, "objection_cannot_confirm", False)
    assert note["verification"]["answer"] == "cannot_confirm" and note["answer"] == "Answer: cannot_confirm."
    officer_view = world.client.post(
        "/v1/officer/score-lookups",
        json={"id_number": world.idn, **WHY},
        headers=world.officer,
    ).json()
    assert officer_view["record_notes"][0]["objection"] == oid
    # The tier rose: the suspended assertion is superseded, not made valid again.
    assert world.listed_status() == Status.SUPERSEDED
    [mine_objection] = world.client.get("/v1/me/objections", headers=world.resident).json()
    assert (mine_objection["state"], mine_objection["answer"]) == ("cannot_confirm", "Answer: cannot_confirm.")
    assert world.audit(world.ref) == ["record.note_unconfirmed"]


def test_cannot_confirm_when_the_office_keeps_it_counting(world: World, gw: Gateway) -> None:
    gw.settings = replace(gw.settings, cannot_confirm_counts=True)
    before = world.client.get("/v1/me/score", headers=world.resident).json()["score"]
    oid = world.object()["id"]
    world.review(oid)
    decided = world.decide(oid, "cannot_confirm")
    assert decided["result"]["record"]["after"] == "valid" and decided["result"]["record"]["counts"] is True
    assert "score" not in decided["result"]
    assert world.record_status() == "valid"
    mine = world.client.get("/v1/me/score", headers=world.resident).json()
    assert mine["score"] == before
    # Shown with the record wherever it is shown: in the breakdown entry itself.
    [entry] = [r for e in mine["breakdown"] for r in e["records"] if r["ref"] == world.ref]
    assert entry["notes"][0]["counts"] is True and entry["disputed"] is False
    assert world.listed_status() == Status.VALID
    assert world.recognise().status_code == 200


def test_the_dashboard_and_the_queue_put_overdue_first(world: World, gw: Gateway) -> None:
    first = world.object("score")["id"]
    second = world.object()["id"]
    d = objection_deadlines
    with gw.engine.begin() as conn:  # the second one's acceptance limit has passed
        conn.execute(
            update(d)
            .where(d.c.objection_id == second, d.c.phase == "accept")
            .values(due_at=utcnow() - timedelta(hours=1))
        )
    queue = world.client.get("/v1/officer/objections", headers=world.officer).json()
    assert [i["id"] for i in queue["items"]] == [second, first] and queue["overdue"] == 1
    assert queue["items"][0]["deadlines"]["accept"]["overdue"] is True
    board = world.client.get("/v1/officer/rights/dashboard", headers=world.officer).json()
    assert board["objections"] == {"open": 2, "overdue": 1}
    assert board["verification_requests"] == {"open": 0, "overdue": 0}
