"""Objections (异议, measure 四(二)): a resident disputes their score or one information record.

States: ``submitted`` → ``under_review`` → ``upheld`` (the record is corrected and no longer
counts, the person is rescored and what their assertions no longer truly state is superseded, all in
one transaction), ``rejected`` (the written answer explains why the information stands) or
``cannot_confirm`` (征信业管理条例 Art. 25's third outcome: the check could not confirm the record; the
objection and the check are recorded with the record, and whether it still counts is the office's
setting ``cannot_confirm_counts``, by default it does not). While the objection is open, what it
disputes is marked and the assertions depending on it are suspended (``rights.disputes``); the
officer may forward it to the unit that supplied the record (``rights.verification``).

Time limits run in working days (``rights.deadlines``): accept, forward, unit answer and the final
answer each have their own. The resident sees the state, the limits and the answer; credit officers
work a queue with overdue objections first.

Every transition is a conditional update on ``row_version``: two officers acting at once cannot both
win, and an officer who sends ``If-Match`` with a version they no longer hold gets 412. Each
transition lands in the audit log with the officer, the states before and after, and the reason.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import Connection, case, func, insert, select, update

from gateway.clock import as_utc, utcnow
from gateway.errors import Conflict, GatewayError, NotFound, ValidationFailed
from gateway.services.context import Gateway
from gateway.services.residents.me import PersonUnknown
from gateway.services.residents.resident_identity import Resident
from gateway.services.rights import deadlines
from gateway.services.rights.disputes import release_suspensions, suspend_for_objection
from gateway.services.rights.evidence import describe_evidence
from gateway.services.rights.repair import RecordRef, correct_record, parse_record_ref
from gateway.services.scores.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.audit import append_audit
from gateway.store.engine import reader
from gateway.store.tables import information_records, objections, people, provincial_evaluations
from gateway.store.tables_rights import record_notes, verification_requests

__all__ = [
    "MAX_EVIDENCE",
    "MAX_STATEMENT",
    "OPEN_STATES",
    "ObjectionInvalid",
    "ObjectionNotFound",
    "ObjectionPreconditionFailed",
    "ObjectionStateConflict",
    "ObjectionTargetInvalid",
    "TooManyOpenObjections",
    "decide_objection",
    "etag",
    "file_objection",
    "get_objection",
    "my_objections",
    "objection_queue",
    "start_review",
]

MAX_STATEMENT: Final = 2000
MAX_ANSWER: Final = 4000
MAX_EVIDENCE: Final = 5
MAX_OPEN_PER_PERSON: Final = 20  # a bound against flooding the queue, far above honest use
OPEN_STATES: Final = ("submitted", "under_review")
OUTCOMES: Final = ("upheld", "rejected", "cannot_confirm")
QUEUE_FILTERS: Final = ("open", "submitted", "under_review", *OUTCOMES, "all")
_SCORE_TARGET: Final = "score"
_TARGET: Final = re.compile(r"score|[rp]:[1-9][0-9]{0,17}")


class ObjectionInvalid(ValidationFailed):
    code = "objection_invalid"
    title = "The objection cannot be accepted as sent"


class ObjectionTargetInvalid(ValidationFailed):
    code = "objection_target_invalid"
    title = "The objection's target is not your score or one of your records"


class TooManyOpenObjections(Conflict):
    code = "too_many_open_objections"
    title = "Too many of your objections are still open"


class ObjectionNotFound(NotFound):
    code = "objection_not_found"
    title = "The objection does not exist"


class ObjectionStateConflict(Conflict):
    code = "objection_state_conflict"
    title = "The objection is not in a state that allows this"


class ObjectionPreconditionFailed(GatewayError):
    code = "objection_precondition_failed"
    title = "The objection has changed since the version you hold"
    status: ClassVar[int] = 412


class DecisionInvalid(ValidationFailed):
    code = "objection_decision_invalid"
    title = "The decision does not fit the objection"


def etag(row_version: int) -> str:
    """The objection's ETag: its row version, quoted (the same form as the administrators' API)."""
    return f'"r{row_version}"'


def _target_name(row: Any) -> str:
    return _SCORE_TARGET if row.target_type == "score" else str(row.target_ref)


def _resident_view(row: Any, now: datetime, limits: dict[str, Any] | None = None) -> dict[str, Any]:
    deadline = as_utc(row.deadline)
    decided = row.state not in OPEN_STATES
    limits = {
        **(limits or {}),
        "final": {
            "due_at": deadline.isoformat(),
            "met_at": as_utc(row.updated_at).isoformat() if decided else None,
            "overdue": not decided and deadline < now,
        },
    }
    late = any(p["overdue"] for p in limits.values())
    return {
        "id": row.id,
        "target": _target_name(row),
        "statement": row.statement,
        "evidence": list(row.evidence),
        "state": row.state,
        "deadline": deadline.isoformat(),
        "overdue": row.state in OPEN_STATES and (deadline < now or late),
        "deadlines": limits,
        "created_at": as_utc(row.created_at).isoformat(),
        "updated_at": as_utc(row.updated_at).isoformat(),
        "answer": row.answer,
    }


def _officer_view(
    row: Any, now: datetime, limits: dict[str, Any] | None = None, checks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        **_resident_view(row, now, limits),
        "verification_requests": checks or [],
        "person": {"ref": str(row.person_id), "name_masked": row.name_masked},
        "officer_id": row.officer_id,
        "row_version": row.row_version,
        "etag": etag(row.row_version),
    }


def _matches(if_match: str, row_version: int) -> bool:
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    # Strong comparison (RFC 9110 §13.1.1); "*" matches any current version.
    return tags == ["*"] or etag(row_version) in tags


def _check_statement(text: str, limit: int, what: str) -> str:
    text = text.strip()
    if not 1 <= len(text) <= limit:
        raise ObjectionInvalid(f"The {what} has 1 to {limit} characters.", max_length=limit)
    return text


def file_objection(
    gw: Gateway, resident: Resident, *, target: str, statement: str, evidence: list[str]
) -> dict[str, Any]:
    """File an objection against the resident's current score (``"score"``) or one of their records
    (``"r:<id>"``, ``"p:<id>"`` as the score breakdown names them).

    :raises ObjectionTargetInvalid: (422) no score, or a record that is not the resident's (the same
        answer as one that does not exist).
    :raises EvidenceUnknown: (422) an evidence hash names no uploaded file.
    :raises TooManyOpenObjections: (409) too many objections of this resident are still open.
    """
    statement = _check_statement(statement, MAX_STATEMENT, "statement")
    hashes = list(dict.fromkeys(evidence))
    if len(hashes) > MAX_EVIDENCE:
        raise ObjectionInvalid(f"An objection names at most {MAX_EVIDENCE} evidence files.")
    files = [describe_evidence(gw, h, owner=resident.id_hash).as_dict() for h in hashes]
    if not _TARGET.fullmatch(target):
        raise ObjectionTargetInvalid("The target is 'score' or a record reference such as 'r:123'.")
    now = utcnow()
    # Before the transaction: a limit running into a year without an official calendar refuses here.
    accept_due = deadlines.due(gw.settings, "accept", now)
    final_due = deadlines.due(gw.settings, "final", now)
    objection_id = "obj_" + secrets.token_urlsafe(12)
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            raise PersonUnknown("No collaborating unit has reported anything about you yet.")
        if target == _SCORE_TARGET:
            current = scores_store.get_current(conn, person.id)
            if current is None:
                raise ObjectionTargetInvalid("You have no score to object to yet.")
            target_type, target_ref = "score", str(current.score_id)
        else:
            record = parse_record_ref(target).load(conn)
            if record is None or record.person_id != person.id:
                raise ObjectionTargetInvalid("The target is not one of your records.")
            target_type, target_ref = "record", target
        open_count = conn.execute(
            select(func.count())
            .select_from(objections)
            .where(objections.c.person_id == person.id, objections.c.state.in_(OPEN_STATES))
        ).scalar_one()
        if open_count >= MAX_OPEN_PER_PERSON:
            raise TooManyOpenObjections(
                f"At most {MAX_OPEN_PER_PERSON} objections can be open at once; wait for an answer.",
                max_open=MAX_OPEN_PER_PERSON,
            )
        conn.execute(
            insert(objections).values(
                id=objection_id,
                person_id=person.id,
                target_type=target_type,
                target_ref=target_ref,
                statement=statement,
                evidence=files,
                state="submitted",
                deadline=final_due,
                created_at=now,
                updated_at=now,
                row_version=1,
            )
        )
        deadlines.set_due(conn, objection_id, "accept", accept_due)
        suspended = suspend_for_objection(
            conn,
            objection_id=objection_id,
            person_id=person.id,
            target_type=target_type,
            target_ref=target_ref,
            now=now,
        )
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id),
            action="objection.submit",
            target_type="objection",
            target_ref=objection_id,
            details={
                "before": None,
                "after": "submitted",
                "target": target,
                "evidence": hashes,
                "suspended_assertions": suspended,
            },
        )
        row = conn.execute(select(objections).where(objections.c.id == objection_id)).one()
        limits = deadlines.load_deadlines(conn, [objection_id], now)[objection_id]
    return _resident_view(row, now, limits)


def my_objections(gw: Gateway, resident: Resident) -> list[dict[str, Any]]:
    """The resident's objections, newest first, with state, deadline and answer."""
    with reader(gw.engine).connect() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            return []
        rows = conn.execute(
            select(objections)
            .where(objections.c.person_id == person.id)
            .order_by(objections.c.created_at.desc(), objections.c.id)
        ).all()
        now = utcnow()
        limits = deadlines.load_deadlines(conn, [r.id for r in rows], now)
    return [_resident_view(r, now, limits[r.id]) for r in rows]


def _officer_select() -> Any:
    return select(objections, people.c.name_masked).join(people, people.c.id == objections.c.person_id)


def objection_queue(gw: Gateway, *, state: str = "open", limit: int = 100) -> dict[str, Any]:
    """The officers' queue: overdue objections first, then by deadline (oldest first)."""
    if state not in QUEUE_FILTERS:
        raise ObjectionInvalid("Unknown queue filter.", filters=list(QUEUE_FILTERS))
    now = utcnow()
    o = objections
    is_overdue = deadlines.overdue_clause(now)
    soonest = case((o.c.state.in_(OPEN_STATES), deadlines.next_due()), else_=o.c.deadline)
    stmt = _officer_select().order_by(case((is_overdue, 0), else_=1), soonest, o.c.created_at, o.c.id)
    if state == "open":
        stmt = stmt.where(o.c.state.in_(OPEN_STATES))
    elif state != "all":
        stmt = stmt.where(o.c.state == state)
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(stmt.limit(limit)).all()
        overdue = conn.execute(select(func.count()).select_from(o).where(is_overdue)).scalar_one()
        items = _officer_views(conn, rows, now)
    return {"overdue": overdue, "items": items}


def _officer_views(conn: Connection, rows: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    limits = deadlines.load_deadlines(conn, ids, now)
    checks: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        v = verification_requests
        for c in conn.execute(select(v).where(v.c.objection_id.in_(ids)).order_by(v.c.requested_at, v.c.id)):
            checks[c.objection_id].append(check_view(c, now))
    return [_officer_view(r, now, limits[r.id], checks[r.id]) for r in rows]


def check_view(row: Any, now: datetime) -> dict[str, Any]:
    """A verification request (协查) as officers see it; units see the same fields of their own."""
    due_at = as_utc(row.due_at)
    return {
        "id": row.id,
        "objection_id": row.objection_id,
        "unit": row.unit_id,
        "record": row.record_ref,
        "source_ref": row.source_ref,
        "item": row.item_code,
        "question": row.question,
        "state": row.state,
        "requested_by": row.requested_by,
        "requested_at": as_utc(row.requested_at).isoformat(),
        "due_at": due_at.isoformat(),
        "overdue": row.state == "open" and due_at < now,
        "answer": row.answer,
        "answer_ref": row.answer_ref,
        "answer_note": row.answer_note,
        "answered_at": as_utc(row.answered_at).isoformat() if row.answered_at is not None else None,
    }


def _load(conn: Connection, objection_id: str, *, lock: bool = False) -> Any:
    stmt = _officer_select().where(objections.c.id == objection_id)
    if lock:
        stmt = stmt.with_for_update(of=objections)
    row = conn.execute(stmt).first()
    if row is None:
        raise ObjectionNotFound("No objection has this id.")
    return row


def get_objection(gw: Gateway, objection_id: str) -> dict[str, Any]:
    with reader(gw.engine).connect() as conn:
        row = _load(conn, objection_id)
        return _officer_views(conn, [row], utcnow())[0]


def _transition(
    conn: Connection, objection_id: str, *, expected: str, if_match: str | None, values: dict[str, Any]
) -> Any:
    """Move the objection out of ``expected`` with a conditional update; the row as it was."""
    row = _load(conn, objection_id, lock=True)
    if if_match is not None and not _matches(if_match, row.row_version):
        raise ObjectionPreconditionFailed(
            "The objection changed since you read it; reload it.", current_etag=etag(row.row_version), state=row.state
        )
    if row.state != expected:
        raise ObjectionStateConflict(
            f"This needs an objection that is {expected}.", state=row.state, current_etag=etag(row.row_version)
        )
    changed = conn.execute(
        update(objections)
        .where(objections.c.id == objection_id, objections.c.row_version == row.row_version)
        .values(**values, row_version=row.row_version + 1)
    ).rowcount
    if changed != 1:  # another officer won between our read and our write
        current = _load(conn, objection_id)
        raise ObjectionStateConflict(
            "Another officer changed the objection.", state=current.state, current_etag=etag(current.row_version)
        )
    return row


def start_review(
    gw: Gateway, officer_id: str, objection_id: str, *, if_match: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """``submitted`` → ``under_review``, taken by ``officer_id``.

    :raises ObjectionStateConflict: (409) not submitted; the current state is in the problem.
    :raises ObjectionPreconditionFailed: (412) ``if_match`` (optional) names no current ETag.
    """
    now = utcnow()
    forward_due = deadlines.due(gw.settings, "forward", now)
    with gw.engine.begin() as conn:
        _transition(
            conn,
            objection_id,
            expected="submitted",
            if_match=if_match,
            values={"state": "under_review", "officer_id": officer_id, "updated_at": now},
        )
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action="objection.review",
            target_type="objection",
            target_ref=objection_id,
            details={"before": "submitted", "after": "under_review", "reason": reason or "review started"},
        )
        deadlines.meet(conn, objection_id, ["accept"], now)
        deadlines.set_due(conn, objection_id, "forward", forward_due)
        row = _load(conn, objection_id)
        return _officer_views(conn, [row], now)[0]


def decide_objection(
    gw: Gateway,
    officer_id: str,
    objection_id: str,
    *,
    outcome: str,
    answer: str,
    record_action: str | None = None,
    if_match: str | None = None,
) -> dict[str, Any]:
    """``under_review`` → ``upheld``, ``rejected`` or ``cannot_confirm``, with the written answer to
    the resident.

    Upholding an objection against a record needs ``record_action="correct"``: the record is marked
    corrected (it no longer counts). ``cannot_confirm`` against a record leaves a note with the record
    (the objection, the unit's check, the answer) and, unless ``cannot_confirm_counts`` is set, marks
    it ``unconfirmed`` so that it stops counting. Any outcome that changes what counts rescores the
    person; then the dispute's suspensions are released (valid again, or superseded where the tier
    changed). An open check by the unit is withdrawn. All in one transaction.

    :raises DecisionInvalid: (422) an outcome or record action that does not fit the objection.
    :raises ObjectionStateConflict, ObjectionPreconditionFailed: (409, 412) as for :func:`start_review`.
    """
    if outcome not in OUTCOMES:
        raise DecisionInvalid("The outcome is upheld, rejected or cannot_confirm.")
    answer = _check_statement(answer, MAX_ANSWER, "answer")
    now = utcnow()
    counts = gw.settings.cannot_confirm_counts
    with gw.engine.begin() as conn:
        current = _load(conn, objection_id)
        on_record = current.target_type == "record"
        if record_action is not None and not (outcome == "upheld" and on_record):
            raise DecisionInvalid("A record action belongs only to an upheld objection against a record.")
        if outcome == "upheld" and on_record and record_action != "correct":
            raise DecisionInvalid("Upholding an objection against a record needs record_action 'correct'.")
        people_store.lock_people(conn, [current.person_id])
        row = _transition(
            conn,
            objection_id,
            expected="under_review",
            if_match=if_match,
            values={"state": outcome, "officer_id": officer_id, "answer": answer, "updated_at": now},
        )
        result: dict[str, Any] = {}
        rescore = outcome == "upheld"
        if on_record and outcome == "upheld":
            ref: RecordRef = parse_record_ref(row.target_ref)
            result["record"] = correct_record(conn, ref, officer_id=officer_id, objection_id=objection_id)
        elif on_record and outcome == "cannot_confirm":
            result["record"] = _note_unconfirmed(
                conn, row, officer_id=officer_id, answer=answer, counts=counts, now=now
            )
            rescore = result["record"]["after"] != result["record"]["before"]
        if rescore:
            rescored = recompute_people(conn, gw, [row.person_id], trigger="objection")
            score = rescored[0][1] if rescored else None
            result["score"] = score.score if score else None
            result["tier"] = score.tier.code if score and score.tier else None
        withdrawn = conn.execute(
            update(verification_requests)
            .where(verification_requests.c.objection_id == objection_id, verification_requests.c.state == "open")
            .values(state="withdrawn")
        ).rowcount
        deadlines.meet(conn, objection_id, deadlines.PHASES, now)
        released = release_suspensions(conn, objection_id=objection_id, person_id=row.person_id, now=now)
        if released["released"] or released["superseded"]:
            result["assertions"] = released
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action=f"objection.{outcome}",
            target_type="objection",
            target_ref=objection_id,
            details={
                "before": "under_review",
                "after": outcome,
                "reason": answer,
                "record_action": record_action,
                # Only when they happened, so that a plain decision's entry stays as it always was.
                **({"checks_withdrawn": withdrawn} if withdrawn else {}),
                **({"assertions": released} if released["released"] or released["superseded"] else {}),
            },
        )
        decided = _load(conn, objection_id)
        view = _officer_views(conn, [decided], now)[0]
    return {**view, "result": result}


def _note_unconfirmed(
    conn: Connection, row: Any, *, officer_id: str, answer: str, counts: bool, now: datetime
) -> dict[str, Any]:
    """Record the cannot-confirm outcome with the record (Art. 25), and take the record out of
    scoring unless the office's setting keeps it counting."""
    ref = parse_record_ref(row.target_ref)
    record = ref.load(conn)
    if record is None:
        raise ObjectionTargetInvalid("The objection's record no longer exists.")
    v = verification_requests
    check = conn.execute(
        select(v.c.unit_id, v.c.answer, v.c.answer_ref, v.c.answer_note)
        .where(v.c.objection_id == row.id, v.c.state == "answered")
        .order_by(v.c.answered_at.desc())
        .limit(1)
    ).first()
    conn.execute(
        insert(record_notes).values(
            record_ref=str(ref),
            person_id=row.person_id,
            kind="objection_cannot_confirm",
            objection_id=row.id,
            verification=dict(check._mapping) if check is not None else None,
            answer=answer,
            counts=counts,
            created_at=now,
        )
    )
    after = record.status if counts or record.status != "valid" else "unconfirmed"
    if after != record.status:
        table = information_records if ref.table is information_records else provincial_evaluations
        conn.execute(
            update(table)
            .where(table.c.id == ref.id, table.c.status == record.status)
            .values(status=after, status_changed_at=now, status_reason=f"objection {row.id}")
        )
    append_audit(
        conn,
        actor_type="officer",
        actor_id=officer_id,
        action="record.note_unconfirmed",
        target_type="record",
        target_ref=str(ref),
        details={"before": record.status, "after": after, "reason": f"objection {row.id}", "counts": counts},
    )
    return {"ref": str(ref), "before": record.status, "after": after, "counts": after == "valid"}
