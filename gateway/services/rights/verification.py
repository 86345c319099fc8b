"""Checks by the supplying unit (协查, after 信用广州's 协查函 and 征信业管理条例 Art. 25's check by the
information provider).

A credit officer forwards an objection under review to the collaborating unit that supplied the
disputed record; the unit sees its open requests with its own partner token (overdue first), and
answers ``confirm`` (the record is right), ``correct`` (it is wrong) or ``cannot_confirm``, with its
reference and a note. The unit answers within ``unit_answer_working_days``; the officer sees the
answer with the objection and decides. The unit learns the record it supplied (its own
``source_ref``), never the person's name, ID number or score. Every step is audited.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, case, func, insert, select, update

from gateway.clock import utcnow
from gateway.errors import Conflict, NotFound, ValidationFailed
from gateway.partners import Partner
from gateway.services.context import Gateway
from gateway.services.rights import deadlines
from gateway.services.rights.objections import ObjectionNotFound, ObjectionStateConflict, check_view, get_objection
from gateway.services.rights.repair import parse_record_ref
from gateway.store.audit import append_audit
from gateway.store.tables import objections
from gateway.store.tables_rights import repair_applications, verification_requests

__all__ = [
    "ANSWERS",
    "VerificationNotApplicable",
    "VerificationRequestNotFound",
    "answer_request",
    "dashboard",
    "forward_objection",
    "unit_requests",
]

ANSWERS: Final = ("confirm", "correct", "cannot_confirm")
MAX_TEXT: Final = 2000


class VerificationNotApplicable(ValidationFailed):
    code = "verification_not_applicable"
    title = "Only an objection against one record can be forwarded to its unit"


class VerificationRequestNotFound(NotFound):
    code = "verification_request_not_found"
    title = "The verification request does not exist"


class VerificationAlreadyAnswered(Conflict):
    code = "verification_request_closed"
    title = "The verification request is no longer open"


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= MAX_TEXT:
        raise ValidationFailed(f"The {what} has 1 to {MAX_TEXT} characters.", max_length=MAX_TEXT)
    return value


def forward_objection(gw: Gateway, officer_id: str, objection_id: str, *, question: str) -> dict[str, Any]:
    """Send a 协查 request for the objection's record to the unit that supplied it.

    :raises VerificationNotApplicable: (422) the objection is against the score, not a record.
    :raises ObjectionStateConflict: (409) the objection is not under review, or already has an open request.
    """
    question = _text(question, "question")
    now = utcnow()
    due_at = deadlines.due(gw.settings, "unit_answer", now)
    request_id = "vr_" + secrets.token_urlsafe(12)
    with gw.engine.begin() as conn:
        row = conn.execute(select(objections).where(objections.c.id == objection_id).with_for_update()).first()
        if row is None:
            raise ObjectionNotFound("No objection has this id.")
        if row.target_type != "record":
            raise VerificationNotApplicable("An objection against the whole score has no single supplying unit.")
        if row.state != "under_review":
            raise ObjectionStateConflict("Take the objection under review before forwarding it.", state=row.state)
        v = verification_requests
        if conn.execute(select(v.c.id).where(v.c.objection_id == objection_id, v.c.state == "open")).first():
            raise ObjectionStateConflict("The objection already waits for its unit's answer.", state=row.state)
        ref = parse_record_ref(row.target_ref)
        record = ref.load(conn)
        if record is None:
            raise VerificationNotApplicable("The objection's record no longer exists.")
        source_ref = conn.execute(select(ref.table.c.source_ref).where(ref.table.c.id == ref.id)).scalar_one()
        conn.execute(
            insert(v).values(
                id=request_id,
                objection_id=objection_id,
                unit_id=record.unit_id,
                record_ref=str(ref),
                source_ref=source_ref,
                item_code=record.item_code,
                question=question,
                state="open",
                requested_by=officer_id,
                requested_at=now,
                due_at=due_at,
            )
        )
        deadlines.meet(conn, objection_id, ["forward"], now)
        deadlines.set_due(conn, objection_id, "unit_answer", due_at)
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action="objection.forward",
            target_type="objection",
            target_ref=objection_id,
            details={"before": "under_review", "after": "under_review", "request": request_id, "unit": record.unit_id},
        )
    return get_objection(gw, objection_id)


def _unit_view(row: Any, now: datetime) -> dict[str, Any]:
    view = check_view(row, now)
    for hidden in ("objection_id", "record", "requested_by"):
        view.pop(hidden)  # the unit needs its own reference, not our identifiers or officers
    return view


def unit_requests(gw: Gateway, unit: Partner, *, state: str = "open", limit: int = 100) -> dict[str, Any]:
    """The unit's own requests, overdue first, then by due date."""
    now = utcnow()
    v = verification_requests
    late = (v.c.state == "open") & (v.c.due_at < now)
    stmt = select(v).where(v.c.unit_id == unit.id)
    if state != "all":
        stmt = stmt.where(v.c.state == state)
    stmt = stmt.order_by(case((late, 0), else_=1), v.c.due_at, v.c.id).limit(limit)
    with gw.engine.connect() as conn:
        rows = conn.execute(stmt).all()
        overdue = conn.execute(select(func.count()).select_from(v).where(v.c.unit_id == unit.id, late)).scalar_one()
    return {"overdue": overdue, "items": [_unit_view(r, now) for r in rows]}


def answer_request(
    gw: Gateway, unit: Partner, request_id: str, *, answer: str, reference: str, note: str
) -> dict[str, Any]:
    """The unit answers one of its open requests.

    :raises VerificationRequestNotFound: (404) no such request for this unit (another unit's: the same).
    :raises VerificationAlreadyAnswered: (409) answered or withdrawn already.
    """
    if answer not in ANSWERS:
        raise ValidationFailed("The answer is confirm, correct or cannot_confirm.")
    reference = _text(reference, "reference")[:64]
    note = _text(note, "note")
    now = utcnow()
    v = verification_requests
    with gw.engine.begin() as conn:
        row = conn.execute(select(v).where(v.c.id == request_id, v.c.unit_id == unit.id).with_for_update()).first()
        if row is None:
            raise VerificationRequestNotFound("You have no verification request with this id.")
        changed = conn.execute(
            update(v)
            .where(v.c.id == request_id, v.c.state == "open")
            .values(state="answered", answer=answer, answer_ref=reference, answer_note=note, answered_at=now)
        ).rowcount
        if changed != 1:
            raise VerificationAlreadyAnswered("The request is no longer open.", state=row.state)
        deadlines.meet(conn, row.objection_id, ["unit_answer"], now)
        append_audit(
            conn,
            actor_type="unit",
            actor_id=unit.id,
            action="verification.answer",
            target_type="objection",
            target_ref=row.objection_id,
            details={"before": "open", "after": "answered", "request": request_id, "answer": answer, "ref": reference},
        )
        done = conn.execute(select(v).where(v.c.id == request_id)).one()
    return _unit_view(done, now)


def _count(conn: Connection, stmt: Any) -> int:
    return int(conn.execute(stmt).scalar_one())


def dashboard(gw: Gateway) -> dict[str, Any]:
    """The officers' overview: open and overdue items of every rights queue."""
    now = utcnow()
    o, v, r = objections, verification_requests, repair_applications
    with gw.engine.connect() as conn:
        return {
            "objections": {
                "open": _count(conn, select(func.count()).select_from(o).where(o.c.state.in_(deadlines.OPEN))),
                "overdue": _count(conn, select(func.count()).select_from(o).where(deadlines.overdue_clause(now))),
            },
            "verification_requests": {
                "open": _count(conn, select(func.count()).select_from(v).where(v.c.state == "open")),
                "overdue": _count(
                    conn, select(func.count()).select_from(v).where(v.c.state == "open", v.c.due_at < now)
                ),
            },
            "repair_applications": {
                "open": _count(conn, select(func.count()).select_from(r).where(r.c.state == "submitted")),
                "overdue": _count(
                    conn, select(func.count()).select_from(r).where(r.c.state == "submitted", r.c.deadline < now)
                ),
            },
        }
