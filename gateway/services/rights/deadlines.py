"""Working-day time limits of an objection, one row per phase.

Phases, each with its own configurable limit (defaults after 信用广州 and 征信业管理条例 Art. 25):
``accept`` (2 working days after filing), ``forward`` (2 after acceptance: forward to the supplying
unit or decide), ``unit_answer`` (10 after forwarding) and ``final`` (20 after filing: the written
answer; kept in ``objections.deadline``, the other phases in ``objection_deadlines``). A phase is
met when its step is done; an open objection with an unmet phase past its limit is overdue, and
overdue items come first in every queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, and_, case, exists, func, insert, select, update

from gateway.clock import as_utc
from gateway.config import Settings
from gateway.services.rights.calendar import limit_after, working_calendar
from gateway.store.tables import objections
from gateway.store.tables_rights import objection_deadlines

__all__ = ["PHASES", "due", "load_deadlines", "meet", "next_due", "overdue_clause", "set_due"]

PHASES: Final = ("accept", "forward", "unit_answer", "final")
OPEN: Final = ("submitted", "under_review")
_LIMITS: Final = {
    "accept": "objection_accept_working_days",
    "forward": "objection_forward_working_days",
    "unit_answer": "unit_answer_working_days",
    "final": "objection_final_working_days",
}


def due(settings: Settings, phase: str, event: datetime) -> datetime:
    """When ``phase`` is due for an event at ``event`` (a provisional calendar-day limit when it
    runs into a year without an official notice; see ``calendar.limit_after``)."""
    return limit_after(working_calendar(settings), event, int(getattr(settings, _LIMITS[phase])))[0]


def set_due(conn: Connection, objection_id: str, phase: str, due_at: datetime) -> None:
    conn.execute(insert(objection_deadlines).values(objection_id=objection_id, phase=phase, due_at=due_at))


def meet(conn: Connection, objection_id: str, phases: Iterable[str], now: datetime) -> None:
    d = objection_deadlines
    conn.execute(
        update(d)
        .where(d.c.objection_id == objection_id, d.c.phase.in_(list(phases)), d.c.met_at.is_(None))
        .values(met_at=now)
    )


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: the objection row is open and past its final limit or any unmet phase's limit."""
    d = objection_deadlines
    late_phase = exists().where(d.c.objection_id == objections.c.id, d.c.met_at.is_(None), d.c.due_at < now)
    return and_(objections.c.state.in_(OPEN), (objections.c.deadline < now) | late_phase)


def next_due() -> Any:
    """SQL: the earliest unmet limit of the objection, its final deadline included."""
    d = objection_deadlines
    earliest = (
        select(func.min(d.c.due_at)).where(d.c.objection_id == objections.c.id, d.c.met_at.is_(None)).scalar_subquery()
    )
    return case((earliest < objections.c.deadline, earliest), else_=objections.c.deadline)


def load_deadlines(conn: Connection, ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """``{objection id: {phase: {due_at, met_at, overdue}}}`` for the given objections."""
    out: dict[str, dict[str, Any]] = {i: {} for i in ids}
    if not ids:
        return out
    d = objection_deadlines
    for r in conn.execute(select(d).where(d.c.objection_id.in_(ids))):
        due_at = as_utc(r.due_at)
        out[r.objection_id][r.phase] = {
            "due_at": due_at.isoformat(),
            "met_at": as_utc(r.met_at).isoformat() if r.met_at is not None else None,
            "overdue": r.met_at is None and due_at < now,
        }
    return out
