"""Credit repair (信用修复, 四(一)): a repaired negative record stops counting, the person is rescored
and sees it in their breakdown; only negative records, only by their unit or a credit officer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.clock import today_in_shaoxing
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.residents.me import my_score
from gateway.services.residents.resident_identity import Resident
from gateway.services.rights.repair import (
    RecordNotFound,
    RecordNotRepairable,
    RecordStateConflict,
    repair_by_officer,
    repair_by_unit,
)
from gateway.services.scores.ingestion import ingest_batch
from gateway.store.tables import audit_log, information_records, provincial_evaluations, score_history
from tests.support import basic_records, make_id, record

COURT = "sx-intermediate-court"
TRANSPORT = "sx-transport"
CIVIL = "sx-civil-affairs"


def _ingest(gw: Gateway, unit_id: str, batch: list[dict[str, Any]]) -> None:
    unit = gw.partners.enabled(unit_id)
    assert unit is not None
    assert len(ingest_batch(gw, unit, batch).accepted) == len(batch)


def _ref(gw: Gateway, source_ref: str) -> str:
    with gw.engine.connect() as conn:
        row = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == source_ref))
        return f"r:{row.scalar_one()}"


class Person:
    """Provincial evaluation 820 (644 points), one grave breach from the court (-200: tier E) and a
    municipal honour (+25)."""

    def __init__(self, gw: Gateway, seq: int, name: str = "钱七") -> None:
        idn = make_id(seq=seq)
        for unit_id, batch in basic_records(idn, name, f"r{seq}").items():
            _ingest(gw, unit_id, batch)
        occurred = (today_in_shaoxing() - timedelta(days=40)).isoformat()
        breach = {"severity": "grave", "decision_ref": "judgment-1", "category": "contract"}
        _ingest(
            gw,
            COURT,
            [record("pledge_breach", breach, ref=f"r{seq}-b", id_number=idn, name=name, occurred_at=occurred)],
        )
        honour = {"level": "municipal", "title": "Good neighbour"}
        _ingest(gw, CIVIL, [record("honour", honour, ref=f"r{seq}-h", id_number=idn, name=name, occurred_at=occurred)])
        rid = parse_resident_id(idn)
        self.resident = Resident(
            gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(name), mask_name(name), rid.birth_date
        )
        self.breach_ref, self.honour_ref = _ref(gw, f"r{seq}-b"), _ref(gw, f"r{seq}-h")
        self.breach_source = f"r{seq}-b"


def _grave(view: dict[str, Any]) -> tuple[float, list[str]]:
    entry = next(e for e in view["breakdown"] if e["indicator"] == "breach_grave")
    return entry["points"], [rec["ref"] for rec in entry["records"]]


def _counted(view: dict[str, Any]) -> set[str]:
    return {rec["ref"] for entry in view["breakdown"] for rec in entry["records"]}


def test_repair_removes_the_records_effect_and_the_resident_sees_it(gw: Gateway) -> None:
    p = Person(gw, 401)
    before = my_score(gw, p.resident)
    assert (before["score"], before["tier"]["code"]) == (644 - 200 + 25, "E")
    assert p.breach_ref in _counted(before)

    court = gw.partners.enabled(COURT)
    assert court is not None
    answer = repair_by_unit(gw, court, p.breach_source, "SX-REPAIR-2026-017")
    assert answer == {
        "source_ref": p.breach_source,
        "status": "repaired",
        "decision_ref": "SX-REPAIR-2026-017",
        "changed": True,
    }  # no score: the unit supplies information, it does not learn the result

    after = my_score(gw, p.resident)
    assert (after["score"], after["tier"]["code"]) == (644 + 25, "C")
    assert p.breach_ref not in _counted(after) and p.honour_ref in _counted(after)
    assert _grave(before) == (-200, [p.breach_ref]) and _grave(after) == (0, [])
    with gw.engine.connect() as conn:
        rec = conn.execute(select(information_records).where(information_records.c.source_ref == p.breach_source)).one()
        trigger = conn.execute(select(score_history.c.trigger).order_by(score_history.c.id.desc()).limit(1)).scalar()
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "record.repair")).one()
    assert (rec.status, rec.status_reason) == ("repaired", "SX-REPAIR-2026-017")
    assert trigger == "repair"
    assert (audit.actor_type, audit.actor_id, audit.target_ref) == ("unit", COURT, p.breach_ref)
    assert audit.details == {
        "before": "valid",
        "after": "repaired",
        "decision_ref": "SX-REPAIR-2026-017",
        "item": "pledge_breach",
    }


def test_a_credit_officer_repairs_by_reference(gw: Gateway) -> None:
    p = Person(gw, 402)
    answer = repair_by_officer(gw, "officer-3", p.breach_ref, "SX-REPAIR-2026-018")
    assert answer["changed"] and answer["score"] == 669 and answer["tier"] == "C"
    # A retry of the same decision changes nothing; another decision on a repaired record is a conflict.
    assert not repair_by_officer(gw, "officer-3", p.breach_ref, "SX-REPAIR-2026-018")["changed"]
    with pytest.raises(RecordStateConflict) as caught:
        repair_by_officer(gw, "officer-3", p.breach_ref, "another decision")
    assert caught.value.extensions["current_status"] == "repaired"
    with gw.engine.connect() as conn:
        audits = conn.execute(select(audit_log.c.actor_id).where(audit_log.c.action == "record.repair")).all()
    assert [a.actor_id for a in audits] == ["officer-3"]


def test_only_negative_records_can_be_repaired(gw: Gateway) -> None:
    p = Person(gw, 403)
    with pytest.raises(RecordNotRepairable):
        repair_by_officer(gw, "officer-3", p.honour_ref, "d")
    with gw.engine.connect() as conn:
        pe = conn.execute(select(provincial_evaluations.c.id).where(provincial_evaluations.c.source_ref == "r403-pe"))
        evaluation = f"p:{pe.scalar_one()}"
    with pytest.raises(RecordNotRepairable):
        repair_by_officer(gw, "officer-3", evaluation, "d")  # a provincial evaluation is not negative information
    with pytest.raises(RecordNotFound):
        repair_by_officer(gw, "officer-3", "r:999999", "d")
    with pytest.raises(RecordNotFound):
        repair_by_officer(gw, "officer-3", "x:1", "d")
    assert my_score(gw, p.resident)["score"] == 469


def test_a_unit_repairs_only_its_own_records(gw: Gateway) -> None:
    p = Person(gw, 404)
    transport = gw.partners.enabled(TRANSPORT)
    court = gw.partners.enabled(COURT)
    assert transport is not None and court is not None
    with pytest.raises(RecordNotFound) as other_units:
        repair_by_unit(gw, transport, p.breach_source, "d")  # the court's record, not transport's
    with pytest.raises(RecordNotFound) as missing:
        repair_by_unit(gw, court, "no-such-ref", "d")
    assert other_units.value.detail == missing.value.detail  # the same answer: nothing is confirmed
    assert my_score(gw, p.resident)["score"] == 469


def test_a_record_out_of_scoring_cannot_be_repaired(gw: Gateway) -> None:
    p = Person(gw, 405)
    with gw.engine.begin() as conn:
        conn.execute(
            update(information_records)
            .where(information_records.c.source_ref == p.breach_source)
            .values(status="corrected")
        )
    with pytest.raises(RecordStateConflict) as caught:
        repair_by_officer(gw, "officer-3", p.breach_ref, "d")
    assert caught.value.extensions["current_status"] == "corrected"
