"""Objections (异议, measure 四(二)): a resident disputes their score or one information record.

States: ``submitted`` → ``under_review`` → ``upheld`` (the record is corrected and no longer
counts, the person is rescored and what their assertions no longer truly state is superseded, all in
one transaction) or ``rejected`` (the written answer explains why the information stands). The
resident sees the state, the deadline (``objection_days`` after filing) and the answer; credit
officers work a queue with overdue objections first.

Every transition is a conditional update on ``row_version``: two officers acting at once cannot both
win, and an officer who sends ``If-Match`` with a version they no longer hold gets 412. Each
transition lands in the audit log with the officer, the states before and after, and the reason.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from sqlalchemy import Connection, and_, case, func, insert, select, update

from gateway.clock import as_utc, utcnow
from gateway.errors import Conflict, GatewayError, NotFound, ValidationFailed
from gateway.services.context import Gateway
from gateway.services.evidence import describe_evidence
from gateway.services.me import PersonUnknown
from gateway.services.repair import RecordRef, correct_record, parse_record_ref
from gateway.services.resident_identity import Resident
from gateway.services.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.audit import append_audit
from gateway.store.engine import reader
from gateway.store.tables import objections, people

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
QUEUE_FILTERS: Final = ("open", "submitted", "under_review", "upheld", "rejected", "all")
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


def _resident_view(row: Any, now: datetime) -> dict[str, Any]:
    deadline = as_utc(row.deadline)
    return {
        "id": row.id,
        "target": _target_name(row),
        "statement": row.statement,
        "evidence": list(row.evidence),
        "state": row.state,
        "deadline": deadline.isoformat(),
        "overdue": row.state in OPEN_STATES and deadline < now,
        "created_at": as_utc(row.created_at).isoformat(),
        "updated_at": as_utc(row.updated_at).isoformat(),
        "answer": row.answer,
    }


def _officer_view(row: Any, now: datetime) -> dict[str, Any]:
    return {
        **_resident_view(row, now),
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
    files = [describe_evidence(gw.settings, h, owner=resident.id_hash).as_dict() for h in hashes]
    if not _TARGET.fullmatch(target):
        raise ObjectionTargetInvalid("The target is 'score' or a record reference such as 'r:123'.")
    now = utcnow()
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
                deadline=now + timedelta(days=gw.settings.objection_days),
                created_at=now,
                updated_at=now,
                row_version=1,
            )
        )
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id),
            action="objection.submit",
            target_type="objection",
            target_ref=objection_id,
            details={"before": None, "after": "submitted", "target": target, "evidence": hashes},
        )
        row = conn.execute(select(objections).where(objections.c.id == objection_id)).one()
    return _resident_view(row, now)


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
    return [_resident_view(r, now) for r in rows]


def _officer_select() -> Any:
    return select(objections, people.c.name_masked).join(people, people.c.id == objections.c.person_id)


def objection_queue(gw: Gateway, *, state: str = "open", limit: int = 100) -> dict[str, Any]:
    """The officers' queue: overdue objections first, then by deadline (oldest first)."""
    if state not in QUEUE_FILTERS:
        raise ObjectionInvalid("Unknown queue filter.", filters=list(QUEUE_FILTERS))
    now = utcnow()
    o = objections
    is_overdue = and_(o.c.state.in_(OPEN_STATES), o.c.deadline < now)
    stmt = _officer_select().order_by(case((is_overdue, 0), else_=1), o.c.deadline, o.c.created_at, o.c.id)
    if state == "open":
        stmt = stmt.where(o.c.state.in_(OPEN_STATES))
    elif state != "all":
        stmt = stmt.where(o.c.state == state)
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(stmt.limit(limit)).all()
        overdue = conn.execute(select(func.count()).select_from(o).where(is_overdue)).scalar_one()
    return {"overdue": overdue, "items": [_officer_view(r, now) for r in rows]}


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
    return _officer_view(row, utcnow())


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
        row = _load(conn, objection_id)
    return _officer_view(row, now)


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
    """``under_review`` → ``upheld`` or ``rejected``, with the written answer to the resident.

    Upholding an objection against a record needs ``record_action="correct"``: the record is marked
    corrected (it no longer counts). Upholding rescores the person and supersedes the assertions that
    no longer hold, in the same transaction.

    :raises DecisionInvalid: (422) an outcome or record action that does not fit the objection.
    :raises ObjectionStateConflict, ObjectionPreconditionFailed: (409, 412) as for :func:`start_review`.
    """
    if outcome not in ("upheld", "rejected"):
        raise DecisionInvalid("The outcome is upheld or rejected.")
    answer = _check_statement(answer, MAX_ANSWER, "answer")
    now = utcnow()
    with gw.engine.begin() as conn:
        current = _load(conn, objection_id)
        on_record = current.target_type == "record"
        if record_action is not None and not (outcome == "upheld" and on_record):
            raise DecisionInvalid("A record action belongs only to an upheld objection against a record.")
        if outcome == "upheld" and on_record and record_action != "correct":
            raise DecisionInvalid("Upholding an objection against a record needs record_action 'correct'.")
        if outcome == "upheld":
            people_store.lock_people(conn, [current.person_id])
        row = _transition(
            conn,
            objection_id,
            expected="under_review",
            if_match=if_match,
            values={"state": outcome, "officer_id": officer_id, "answer": answer, "updated_at": now},
        )
        result: dict[str, Any] = {}
        if outcome == "upheld":
            if on_record:
                ref: RecordRef = parse_record_ref(row.target_ref)
                result["record"] = correct_record(conn, ref, officer_id=officer_id, objection_id=objection_id)
            rescored = recompute_people(conn, gw, [row.person_id], trigger="objection")
            score = rescored[0][1] if rescored else None
            result["score"] = score.score if score else None
            result["tier"] = score.tier.code if score and score.tier else None
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action=f"objection.{outcome}",
            target_type="objection",
            target_ref=objection_id,
            details={"before": "under_review", "after": outcome, "reason": answer, "record_action": record_action},
        )
        decided = _load(conn, objection_id)
    return {**_officer_view(decided, now), "result": result}
