"""Objections (异议, 四(二)): both outcomes, invalid transitions, optimistic concurrency, deadlines
and the overdue-first queue, targets and evidence, and the audit trail of every transition."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.clock import as_utc, today_in_shaoxing, utcnow
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.residents.me import PersonUnknown, my_score
from gateway.services.residents.resident_identity import Resident
from gateway.services.rights.calendar import deadline_after, working_calendar
from gateway.services.rights.evidence import EvidenceUnknown, store_evidence
from gateway.services.rights.objections import (
    DecisionInvalid,
    ObjectionNotFound,
    ObjectionPreconditionFailed,
    ObjectionStateConflict,
    ObjectionTargetInvalid,
    TooManyOpenObjections,
    decide_objection,
    etag,
    file_objection,
    get_objection,
    my_objections,
    objection_queue,
    start_review,
)
from gateway.services.scores.ingestion import ingest_batch
from gateway.store.tables import audit_log, information_records, objections, provincial_evaluations
from tests.support import basic_records, make_id, record

COURT = "sx-intermediate-court"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _resident(gw: Gateway, idn: str, name: str) -> Resident:
    rid = parse_resident_id(idn)
    return Resident(gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(name), mask_name(name), rid.birth_date)


def _ingest(gw: Gateway, unit_id: str, batch: list[dict[str, Any]]) -> None:
    unit = gw.partners.enabled(unit_id)
    assert unit is not None
    assert len(ingest_batch(gw, unit, batch).accepted) == len(batch)


def _enrol(gw: Gateway, seq: int, name: str = "王五", *, breach: bool = True) -> tuple[Resident, str]:
    """An eligible resident with one serious breach; returns them and the breach's record ref."""
    idn = make_id(seq=seq)
    for unit_id, batch in basic_records(idn, name, f"o{seq}").items():
        _ingest(gw, unit_id, batch)
    ref = ""
    if breach:
        occurred = (today_in_shaoxing() - timedelta(days=30)).isoformat()
        attrs = {"severity": "serious", "decision_ref": "d-1", "category": "contract"}
        _ingest(
            gw, COURT, [record("pledge_breach", attrs, ref=f"o{seq}-b", id_number=idn, name=name, occurred_at=occurred)]
        )
        with gw.engine.connect() as conn:
            rid = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == f"o{seq}-b"))
            ref = f"r:{rid.scalar_one()}"
    return _resident(gw, idn, name), ref


def _audit(gw: Gateway, objection_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    t = audit_log
    with gw.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.actor_type, t.c.actor_id, t.c.action, t.c.details)
            .where(t.c.target_type == "objection", t.c.target_ref == objection_id)
            .order_by(t.c.id)
        ).all()
    return [(r.actor_type, r.actor_id, r.action, dict(r.details)) for r in rows]


def _score(gw: Gateway, resident: Resident) -> int:
    view = my_score(gw, resident)
    assert view["status"] == "scored"
    return int(view["score"])


def test_upheld_record_objection_corrects_the_record_and_rescores(gw: Gateway) -> None:
    me, ref = _enrol(gw, 301)
    assert _score(gw, me) == 644 - 80
    png = store_evidence(gw, PNG, "image/png", owner=me.id_hash)
    filed = file_objection(gw, me, target=ref, statement="  This breach is not mine.  ", evidence=[png.sha256])
    assert filed["state"] == "submitted" and filed["statement"] == "This breach is not mine."
    assert filed["evidence"] == [png.as_dict()] and filed["answer"] is None and not filed["overdue"]

    reviewed = start_review(gw, "officer-7", filed["id"], reason="taking it")
    assert (reviewed["state"], reviewed["officer_id"], reviewed["row_version"]) == ("under_review", "officer-7", 2)
    decided = decide_objection(
        gw, "officer-7", filed["id"], outcome="upheld", answer="The unit confirmed an error.", record_action="correct"
    )
    assert decided["state"] == "upheld" and decided["row_version"] == 3
    assert decided["result"]["record"] == {"ref": ref, "before": "valid", "after": "corrected"}
    assert decided["result"]["score"] == 644 == _score(gw, me)

    with gw.engine.connect() as conn:
        rec = conn.execute(select(information_records).where(information_records.c.source_ref == "o301-b")).one()
    assert rec.status == "corrected" and rec.status_reason == f"objection {filed['id']}"
    [mine] = my_objections(gw, me)
    assert (mine["state"], mine["answer"]) == ("upheld", "The unit confirmed an error.")
    assert "officer_id" not in mine and "row_version" not in mine

    trail = _audit(gw, filed["id"])
    assert [(a, who, act) for a, who, act, _ in trail] == [
        ("resident", trail[0][1], "objection.submit"),
        ("officer", "officer-7", "objection.review"),
        ("officer", "officer-7", "objection.upheld"),
    ]
    assert [(d["before"], d["after"]) for *_, d in trail] == [
        (None, "submitted"),
        ("submitted", "under_review"),
        ("under_review", "upheld"),
    ]
    assert trail[1][3]["reason"] == "taking it" and trail[2][3]["reason"] == "The unit confirmed an error."


def test_rejected_objection_keeps_the_record_and_stores_the_answer(gw: Gateway) -> None:
    me, ref = _enrol(gw, 302)
    filed = file_objection(gw, me, target=ref, statement="Unfair.", evidence=[])
    start_review(gw, "officer-7", filed["id"])
    decided = decide_objection(gw, "officer-7", filed["id"], outcome="rejected", answer="The court decision stands.")
    assert decided["state"] == "rejected" and decided["result"] == {}
    assert _score(gw, me) == 564
    [mine] = my_objections(gw, me)
    assert (mine["state"], mine["answer"]) == ("rejected", "The court decision stands.")
    assert _audit(gw, filed["id"])[-1][2:] == (
        "objection.rejected",
        {"before": "under_review", "after": "rejected", "reason": "The court decision stands.", "record_action": None},
    )


def test_upheld_score_objection_rescores(gw: Gateway) -> None:
    me, _ = _enrol(gw, 303, breach=False)
    filed = file_objection(gw, me, target="score", statement="Please check my score.", evidence=[])
    assert filed["target"] == "score"
    start_review(gw, "officer-7", filed["id"])
    with pytest.raises(DecisionInvalid):  # nothing to correct on a score objection
        decide_objection(gw, "officer-7", filed["id"], outcome="upheld", answer="ok", record_action="correct")
    decided = decide_objection(gw, "officer-7", filed["id"], outcome="upheld", answer="Recomputed.")
    assert decided["result"] == {"score": 644, "tier": "D"}


def test_invalid_transitions_are_conflicts_naming_the_current_state(gw: Gateway) -> None:
    me, ref = _enrol(gw, 304)
    filed = file_objection(gw, me, target=ref, statement="x", evidence=[])
    with pytest.raises(ObjectionStateConflict) as caught:
        decide_objection(gw, "o", filed["id"], outcome="rejected", answer="no")  # not under review yet
    assert caught.value.status == 409 and caught.value.extensions["state"] == "submitted"
    start_review(gw, "o", filed["id"])
    with pytest.raises(ObjectionStateConflict) as caught:
        start_review(gw, "o2", filed["id"])
    assert caught.value.extensions["state"] == "under_review"
    with pytest.raises(DecisionInvalid):  # upholding a record objection must say what happens to the record
        decide_objection(gw, "o", filed["id"], outcome="upheld", answer="yes")
    decide_objection(gw, "o", filed["id"], outcome="rejected", answer="no")
    with pytest.raises(ObjectionStateConflict) as caught:
        decide_objection(gw, "o", filed["id"], outcome="upheld", answer="changed my mind", record_action="correct")
    assert caught.value.extensions["state"] == "rejected"
    assert get_objection(gw, filed["id"])["state"] == "rejected"
    with pytest.raises(ObjectionNotFound):
        start_review(gw, "o", "obj_missing")


def test_if_match_guards_against_lost_updates(gw: Gateway) -> None:
    me, ref = _enrol(gw, 305)
    filed = file_objection(gw, me, target=ref, statement="x", evidence=[])
    seen = get_objection(gw, filed["id"])["etag"]
    assert seen == etag(1) == '"r1"'
    with pytest.raises(ObjectionPreconditionFailed) as caught:
        start_review(gw, "o", filed["id"], if_match=etag(7))
    assert caught.value.status == 412 and caught.value.extensions["current_etag"] == seen
    reviewed = start_review(gw, "o", filed["id"], if_match=seen)
    # A second officer still holding the first version loses, and nothing they sent is applied.
    with pytest.raises(ObjectionPreconditionFailed):
        decide_objection(gw, "o2", filed["id"], outcome="rejected", answer="stale", if_match=seen)
    decided = decide_objection(gw, "o", filed["id"], outcome="rejected", answer="fresh", if_match=reviewed["etag"])
    assert (decided["answer"], decided["officer_id"]) == ("fresh", "o")


def test_deadline_comes_from_configuration(gw: Gateway) -> None:
    # Issue 14: the final answer's limit is counted in working days of the configured calendar.
    me, _ = _enrol(gw, 306, breach=False)
    first = file_objection(gw, me, target="score", statement="a", evidence=[])
    gw.settings = replace(gw.settings, objection_final_working_days=3)
    second = file_objection(gw, me, target="score", statement="b", evidence=[])
    with gw.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(objections))}
    calendar = working_calendar(gw.settings)
    for filed, days in ((first, 20), (second, 3)):
        row = rows[filed["id"]]
        assert as_utc(row.deadline) == deadline_after(calendar, as_utc(row.created_at), days)
        assert filed["deadlines"]["final"]["due_at"] == filed["deadline"]


def test_queue_puts_overdue_first_then_orders_by_deadline(gw: Gateway) -> None:
    me, _ = _enrol(gw, 307, breach=False)
    ids = [file_objection(gw, me, target="score", statement=str(i), evidence=[])["id"] for i in range(5)]
    now = utcnow()
    # Deadlines: two overdue (one by 3 days, one by 1 day), two still to come, and an overdue one already decided.
    deadlines = [now + timedelta(days=4), now - timedelta(days=1), now + timedelta(days=2), now - timedelta(days=3)]
    with gw.engine.begin() as conn:
        for oid, deadline in zip(ids, [*deadlines, now - timedelta(days=9)], strict=True):
            conn.execute(update(objections).where(objections.c.id == oid).values(deadline=deadline))
    start_review(gw, "o", ids[4])
    decide_objection(gw, "o", ids[4], outcome="rejected", answer="no")
    start_review(gw, "o", ids[1])  # under review still counts as open

    queue = objection_queue(gw)
    assert [item["id"] for item in queue["items"]] == [ids[3], ids[1], ids[2], ids[0]]
    assert [item["overdue"] for item in queue["items"]] == [True, True, False, False]
    assert queue["overdue"] == 2
    everything = objection_queue(gw, state="all")["items"]
    assert [item["id"] for item in everything][:2] == [ids[3], ids[1]] and everything[-1]["id"] == ids[0]
    assert [i["id"] for i in objection_queue(gw, state="rejected")["items"]] == [ids[4]]
    assert not objection_queue(gw, state="rejected")["items"][0]["overdue"]  # decided in time or not, it is done
    assert [i["id"] for i in objection_queue(gw, limit=1)["items"]] == [ids[3]]
    assert queue["items"][0]["person"]["name_masked"] == "王*"


def test_targets_must_be_the_residents_own(gw: Gateway) -> None:
    me, my_ref = _enrol(gw, 308)
    _, other_ref = _enrol(gw, 309, "赵六")
    for target in (other_ref, "r:999999", "p:999999"):
        with pytest.raises(ObjectionTargetInvalid) as caught:
            file_objection(gw, me, target=target, statement="x", evidence=[])
        assert caught.value.detail == "The target is not one of your records."
    with pytest.raises(ObjectionTargetInvalid):
        file_objection(gw, me, target="everything", statement="x", evidence=[])
    with pytest.raises(EvidenceUnknown):
        file_objection(gw, me, target=my_ref, statement="x", evidence=["0" * 64])
    stranger = _resident(gw, make_id(seq=310), "孙八")
    with pytest.raises(PersonUnknown):
        file_objection(gw, stranger, target="score", statement="x", evidence=[])
    assert my_objections(gw, stranger) == []
    # A provincial evaluation is a record too.
    with gw.engine.connect() as conn:
        pe = provincial_evaluations
        pid = conn.execute(select(pe.c.id).where(pe.c.source_ref == "o308-pe")).scalar_one()
    assert file_objection(gw, me, target=f"p:{pid}", statement="old edition", evidence=[])["target"] == f"p:{pid}"


def test_open_objections_per_resident_are_bounded(gw: Gateway) -> None:
    me, _ = _enrol(gw, 311, breach=False)
    first = [file_objection(gw, me, target="score", statement=str(i), evidence=[])["id"] for i in range(20)]
    with pytest.raises(TooManyOpenObjections):
        file_objection(gw, me, target="score", statement="one more", evidence=[])
    start_review(gw, "o", first[0])
    decide_objection(gw, "o", first[0], outcome="rejected", answer="answered")
    assert file_objection(gw, me, target="score", statement="now it fits", evidence=[])["state"] == "submitted"


def test_a_resident_cannot_cite_another_residents_evidence(gw: Gateway) -> None:
    me, ref = _enrol(gw, 311)
    other, _ = _enrol(gw, 312)
    theirs = store_evidence(gw, PNG, "image/png", owner=other.id_hash)
    with pytest.raises(EvidenceUnknown):
        file_objection(gw, me, target=ref, statement="not mine", evidence=[theirs.sha256])
    mine = store_evidence(gw, PNG, "image/png", owner=me.id_hash)  # the same bytes, uploaded by me
    assert file_objection(gw, me, target=ref, statement="not mine", evidence=[mine.sha256])["evidence"]
