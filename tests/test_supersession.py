"""Supersession and revocation of issued assertions through their status list slots.

Whenever a person's score or tier changes — ingestion, repair, an upheld objection, a new model
version, a full recompute — every live assertion about them that states something no longer true is
SUPERSEDED; one that still states the truth stays VALID. Withdrawing a consent makes the assertions
issued under it INVALID.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from gateway.clock import today_in_shaoxing, utcnow
from gateway.exchange import Status
from gateway.privacy import mask_name
from gateway.scoring import load_model, parse_resident_id
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import issue_assertion
from gateway.services.exchange.oauth import PartnerPrincipal, partner_scopes
from gateway.services.residents.consents import grant_consent, revoke_consent
from gateway.services.residents.resident_identity import Resident
from gateway.services.rights.objections import decide_objection, file_objection, start_review
from gateway.services.rights.repair import repair_by_unit
from gateway.services.scores.ingestion import ingest_batch
from gateway.services.scores.scoring import recompute_all
from gateway.store.tables import disclosures, information_records, status_slots
from gateway.store.tables_operations import webhook_outbox
from tests.support import basic_records, make_id, record

BANK = "sx-example-bank"
CITY = "hangzhou-credit"
COURT = "sx-intermediate-court"


def _resident(gw: Gateway, idn: str, name: str) -> Resident:
    rid = parse_resident_id(idn)
    return Resident(gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(name), mask_name(name), rid.birth_date)


def _ingest(gw: Gateway, unit_id: str, batch: list[dict[str, Any]]) -> None:
    unit = gw.partners.enabled(unit_id)
    assert unit is not None
    assert len(ingest_batch(gw, unit, batch).accepted) == len(batch)


def _breach(idn: str, name: str, ref: str, severity: str) -> dict[str, Any]:
    occurred = (today_in_shaoxing() - timedelta(days=20)).isoformat()
    attrs = {"severity": severity, "decision_ref": f"dec-{ref}", "category": "contract"}
    return record("pledge_breach", attrs, ref=ref, id_number=idn, name=name, occurred_at=occurred)


def _issue(gw: Gateway, idn: str, name: str, partner_id: str, purpose: str, disclosure: str) -> str:
    partner = gw.partners.enabled(partner_id)
    assert partner is not None
    principal = PartnerPrincipal(partner, partner_scopes(partner), "test")
    issued = issue_assertion(gw, principal, id_number=idn, name=name, purpose=purpose, disclosure=disclosure)
    return issued.jti


def _statuses(gw: Gateway) -> dict[str, int]:
    with gw.engine.connect() as conn:
        return {jti: status for jti, status in conn.execute(select(status_slots.c.jti, status_slots.c.status))}


class Person:
    """An enrolled resident (provincial evaluation 820: score 644, tier D) with a score assertion and a
    tier assertion to the bank, and a tier assertion to Hangzhou under a second consent."""

    def __init__(self, gw: Gateway, seq: int, name: str = "周九") -> None:
        self.gw, self.idn, self.name = gw, make_id(seq=seq), name
        for unit_id, batch in basic_records(self.idn, name, f"p{seq}").items():
            _ingest(gw, unit_id, batch)
        self.resident = _resident(gw, self.idn, name)
        self.bank_consent = grant_consent(
            gw, self.resident, audience=BANK, purposes=["loan_discount"], disclosure="score", channel="app"
        )["id"]
        self.city_consent = grant_consent(
            gw, self.resident, audience=CITY, purposes=["cross_city_recognition"], channel="app"
        )["id"]
        self.score_jti = _issue(gw, self.idn, name, BANK, "loan_discount", "score")
        self.tier_jti = _issue(gw, self.idn, name, BANK, "loan_discount", "tier")
        self.city_jti = _issue(gw, self.idn, name, CITY, "cross_city_recognition", "tier")

    def breach(self, ref: str, severity: str) -> None:
        _ingest(self.gw, COURT, [_breach(self.idn, self.name, ref, severity)])

    def status(self) -> tuple[int, int, int]:
        statuses = _statuses(self.gw)
        return statuses[self.score_jti], statuses[self.tier_jti], statuses[self.city_jti]


VALID, INVALID, SUPERSEDED = int(Status.VALID), int(Status.INVALID), int(Status.SUPERSEDED)


def test_every_assertion_gets_a_slot_and_starts_valid(gw: Gateway) -> None:
    p = Person(gw, 801)
    assert p.status() == (VALID, VALID, VALID)
    with gw.engine.connect() as conn:
        rows = conn.execute(select(disclosures.c.jti, disclosures.c.status_list, disclosures.c.status_idx)).all()
        slots = {r.jti: (r.list_id, r.idx) for r in conn.execute(select(status_slots))}
    assert {r.jti: (r.status_list, r.status_idx) for r in rows} == slots


def test_ingestion_supersedes_only_what_is_no_longer_true(gw: Gateway) -> None:
    p = Person(gw, 802)
    # A minor breach lowers the score (644 → 614) but not the tier (D): only the disclosed score is untrue.
    p.breach("b-minor", "minor")
    assert p.status() == (SUPERSEDED, VALID, VALID)
    # A grave one changes the tier (→ E): now every tier assertion is untrue too.
    p.breach("b-grave", "grave")
    assert p.status() == (SUPERSEDED, SUPERSEDED, SUPERSEDED)


def _superseded_events(gw: Gateway) -> list[tuple[str, list[str]]]:
    with gw.engine.connect() as conn:
        o = webhook_outbox
        rows = conn.execute(
            select(o.c.partner_id, o.c.data).where(o.c.event_type == "assertion.superseded").order_by(o.c.id)
        )
        return [(r.partner_id, r.data["jtis"]) for r in rows]


def test_each_holder_is_told_what_was_superseded_and_only_that(gw: Gateway) -> None:
    p = Person(gw, 813)
    p.breach("b-minor", "minor")  # the bank's score assertion only
    assert _superseded_events(gw) == [(BANK, [p.score_jti])]
    p.breach("b-grave", "grave")  # now the tier ones, each to its own holder, ids only
    assert sorted(_superseded_events(gw)[1:]) == [(CITY, [p.city_jti]), (BANK, [p.tier_jti])]
    recompute_all(gw)  # nothing more changed: nothing more to tell
    assert len(_superseded_events(gw)) == 3


def test_an_unchanged_rescore_supersedes_nothing(gw: Gateway) -> None:
    p = Person(gw, 803)
    other = Person(gw, 804, "吴十")
    p.breach("b-minor", "minor")  # touches p only
    assert other.status() == (VALID, VALID, VALID)
    assert recompute_all(gw).people == 2
    assert other.status() == (VALID, VALID, VALID)


def test_repair_supersedes(gw: Gateway) -> None:
    p = Person(gw, 805)
    p.breach("b-minor", "minor")
    fresh = _issue(gw, p.idn, p.name, BANK, "loan_discount", "score")  # states 614
    court = gw.partners.enabled(COURT)
    assert court is not None
    repair_by_unit(gw, court, "b-minor", "repair-2026-001")
    assert _statuses(gw)[fresh] == SUPERSEDED  # back to 644
    assert p.status()[1:] == (VALID, VALID)  # the tier never changed


def test_upheld_objection_supersedes(gw: Gateway) -> None:
    p = Person(gw, 806)
    p.breach("b-grave", "grave")
    fresh = _issue(gw, p.idn, p.name, CITY, "cross_city_recognition", "tier")  # states E
    with gw.engine.connect() as conn:
        rec_id = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == "b-grave"))
        ref = f"r:{rec_id.scalar_one()}"
    objection = file_objection(gw, p.resident, target=ref, statement="Not my breach.", evidence=[])
    start_review(gw, "officer-1", objection["id"])
    # Issue 14: while the objection is open the disputed tier is suspended, not honoured.
    assert _statuses(gw)[fresh] == int(Status.SUSPENDED)
    decide_objection(
        gw, "officer-1", objection["id"], outcome="upheld", answer="Wrong person.", record_action="correct"
    )
    assert _statuses(gw)[fresh] == SUPERSEDED


def test_rejected_objection_supersedes_nothing(gw: Gateway) -> None:
    p = Person(gw, 807)
    objection = file_objection(gw, p.resident, target="score", statement="Too low.", evidence=[])
    start_review(gw, "officer-1", objection["id"])
    decide_objection(gw, "officer-1", objection["id"], outcome="rejected", answer="The records are right.")
    assert p.status() == (VALID, VALID, VALID)


def _shifted_model(gw: Gateway) -> Any:
    """The bundled model as a new version whose tier C starts at 600 instead of 650."""
    document = gw.model.document()
    document["version"] = "2026.2"
    for tier in document["tiers"]:
        if tier["code"] == "C":
            tier["min"] = 600
        if tier["code"] == "D":
            tier["max"] = 599
    return load_model(document, known_items=set(gw.catalogue.indicator_items))


def test_new_model_version_and_full_recompute_supersede(gw: Gateway) -> None:
    p = Person(gw, 808)
    gw.model = _shifted_model(gw)
    assert gw.model.version == "2026.2"
    report = recompute_all(gw)
    assert report.model_version == "2026.2"
    # 644 is tier C under the new model: every assertion states tier D (the score one too), so all are untrue.
    assert p.status() == (SUPERSEDED, SUPERSEDED, SUPERSEDED)


def test_full_recompute_supersedes_a_change_made_without_rescoring(gw: Gateway) -> None:
    p = Person(gw, 809)
    other = Person(gw, 810, "吴十")
    # A record that stopped counting without its rescore (as an ageing record does overnight).
    with gw.engine.begin() as conn:
        conn.execute(
            update(information_records)
            .where(information_records.c.source_ref == "p809-auth")
            .values(status="corrected")
        )
    assert p.status() == (VALID, VALID, VALID)
    recompute_all(gw, chunk=100)
    # Without the scoring authorisation the person is not eligible: nothing about them is true any more.
    assert p.status() == (SUPERSEDED, SUPERSEDED, SUPERSEDED)
    assert other.status() == (VALID, VALID, VALID)


def test_expired_assertions_are_left_alone(gw: Gateway) -> None:
    p = Person(gw, 811)
    with gw.engine.begin() as conn:
        conn.execute(update(disclosures).values(expires_at=utcnow() - timedelta(seconds=1)))
    p.breach("b-grave", "grave")
    revoke_consent(gw, p.resident, p.bank_consent)
    assert p.status() == (VALID, VALID, VALID)


def test_consent_withdrawal_revokes_the_assertions_issued_under_it(gw: Gateway) -> None:
    p = Person(gw, 812)
    p.breach("b-minor", "minor")
    assert p.status() == (SUPERSEDED, VALID, VALID)
    revoke_consent(gw, p.resident, p.bank_consent)
    # Both bank assertions are revoked (revocation outranks supersession); Hangzhou's consent stands.
    assert p.status() == (INVALID, INVALID, VALID)
    revoke_consent(gw, p.resident, p.city_consent)
    assert p.status() == (INVALID, INVALID, INVALID)


@pytest.mark.parametrize(("people", "chunk", "chunks"), [(3, 100, 1), (7, 2, 4)])
def test_recompute_supersession_is_one_statement_per_chunk(gw: Gateway, people: int, chunk: int, chunks: int) -> None:
    for i in range(people):
        Person(gw, 820 + i, "孙八")
    updates: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE STATUS_SLOTS"):
            updates.append(statement)

    event.listen(gw.engine, "before_cursor_execute", count)
    try:
        gw.model = _shifted_model(gw)
        recompute_all(gw, chunk=chunk)
    finally:
        event.remove(gw.engine, "before_cursor_execute", count)
    assert len(updates) == chunks  # one per chunk, however many people in it hold assertions
    assert sum(1 for s in _statuses(gw).values() if s == SUPERSEDED) == 3 * people
