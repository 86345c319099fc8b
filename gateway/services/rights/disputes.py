"""Dispute marks (异议标注): while an objection is open, what it disputes is marked, and no partner
may decide on the disputed tier.

征信业管理条例 Art. 25 has a disputed record marked as disputed while it is checked. Here the mark
goes further, to the partners: every live assertion whose tier depends on the disputed record (for
an objection against the score: every live assertion about the person) is set to SUSPENDED (0x02)
in the Token Status List, in the transaction that files the objection; an assertion issued while
the objection is open is suspended as it is issued. A partner recognising such an assertion gets
``assertion_suspended``. When the objection ends the suspension is released: the assertion is
VALID again if what it states is still true, SUPERSEDED if the outcome changed the tier (or a
disclosed score). An assertion held by two open objections stays suspended until both end.

The same marks are shown to people: the officer view, the resident's report and the breakdown say
which records are disputed, and carry the notes an objection left on a record it could not confirm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, and_, insert, select, update

from gateway.clock import as_utc
from gateway.exchange import Status
from gateway.services.exchange.status_lists import supersede_for_people
from gateway.services.operations.webhooks import tell_holders
from gateway.store import driver_sql
from gateway.store.tables import disclosures, objections, people, score_history, status_slots
from gateway.store.tables_rights import dispute_suspensions, record_notes

__all__ = ["RecordMarks", "load_marks", "release_suspensions", "suspend_for_objection", "suspend_new_assertion"]

OPEN_STATES: Final = ("submitted", "under_review")


def _depends_on(breakdown: Any, target_type: str, target_ref: str) -> bool:
    """Whether a score with this breakdown depends on the objection's target."""
    if target_type == "score":
        return True
    return any(target_ref in entry.get("records", ()) for entry in breakdown or ())


def _suspend(conn: Connection, objection_id: str, jtis: list[str], now: datetime) -> int:
    if not jtis:
        return 0
    valid = [
        r.jti
        for r in conn.execute(
            select(status_slots.c.jti).where(status_slots.c.jti.in_(jtis), status_slots.c.status == int(Status.VALID))
        )
    ]
    if valid:
        conn.execute(
            update(status_slots)
            .where(status_slots.c.jti.in_(valid), status_slots.c.status == int(Status.VALID))
            .values(status=int(Status.SUSPENDED), updated_at=now)
        )
        tell_holders(conn, valid, "assertion.suspended")
    # Also record assertions already suspended by another objection: both must end before release.
    held = [
        r.jti
        for r in conn.execute(
            select(status_slots.c.jti).where(
                status_slots.c.jti.in_(jtis), status_slots.c.status == int(Status.SUSPENDED)
            )
        )
    ]
    if held:
        conn.execute(
            insert(dispute_suspensions),
            [{"objection_id": objection_id, "jti": j, "suspended_at": now} for j in held],
        )
    return len(held)


def suspend_for_objection(
    conn: Connection, *, objection_id: str, person_id: int, target_type: str, target_ref: str, now: datetime
) -> int:
    """Suspend the person's live assertions whose tier depends on the target; how many are held."""
    d, h = disclosures, score_history
    rows = conn.execute(
        select(d.c.jti, h.c.breakdown)
        .select_from(people.join(d, d.c.person_key == people.c.id_hash).join(h, h.c.id == d.c.score_id))
        .where(people.c.id == person_id, d.c.expires_at > now, d.c.status_list.is_not(None))
    ).all()
    jtis = [r.jti for r in rows if _depends_on(r.breakdown, target_type, target_ref)]
    return _suspend(conn, objection_id, jtis, now)


# Every issuance runs this lookup: on the driver's cursor (issue 12), the open states as binds.
_OPEN_OBJECTIONS = (
    "SELECT id, target_type, target_ref FROM objections WHERE person_id = ? "  # noqa: S608 - marks only
    f"AND state IN ({', '.join('?' * len(OPEN_STATES))})"  # one mark per open state, however many
)


def suspend_new_assertion(conn: Connection, *, person_id: int, jti: str, score_id: int, now: datetime) -> bool:
    """At issuance: suspend the new assertion at once when an open objection disputes its tier."""
    open_rows = driver_sql.execute(conn, _OPEN_OBJECTIONS, (person_id, *OPEN_STATES))
    if not open_rows:
        return False  # the usual case: one lookup and nothing else
    breakdown = conn.execute(select(score_history.c.breakdown).where(score_history.c.id == score_id)).scalar()
    held = False
    for objection_id, target_type, target_ref in open_rows:
        if _depends_on(breakdown, target_type, target_ref):
            held = _suspend(conn, objection_id, [jti], now) > 0 or held
    return held


def release_suspensions(conn: Connection, *, objection_id: str, person_id: int, now: datetime) -> dict[str, int]:
    """The objection ended: what it alone held is VALID again, then whatever the person's current
    score no longer supports is SUPERSEDED. Call after any rescoring of the outcome."""
    s = dispute_suspensions
    mine = [
        r.jti for r in conn.execute(select(s.c.jti).where(s.c.objection_id == objection_id, s.c.released_at.is_(None)))
    ]
    if not mine:
        return {"released": 0, "superseded": 0}
    conn.execute(update(s).where(s.c.objection_id == objection_id, s.c.released_at.is_(None)).values(released_at=now))
    still_held = {r.jti for r in conn.execute(select(s.c.jti).where(s.c.jti.in_(mine), s.c.released_at.is_(None)))}
    free = [j for j in mine if j not in still_held]
    if free:
        back = [
            r.jti
            for r in conn.execute(
                select(status_slots.c.jti).where(
                    status_slots.c.jti.in_(free), status_slots.c.status == int(Status.SUSPENDED)
                )
            )
        ]
        conn.execute(
            update(status_slots)
            .where(status_slots.c.jti.in_(back), status_slots.c.status == int(Status.SUSPENDED))
            .values(status=int(Status.VALID), updated_at=now)
        )
    superseded = supersede_for_people(conn, [person_id], now=now)
    if free:
        # Told only of what is valid again: an outcome that changed the tier superseded the rest.
        still_valid = select(status_slots.c.jti).where(
            status_slots.c.jti.in_(back), status_slots.c.status == int(Status.VALID)
        )
        tell_holders(conn, [r.jti for r in conn.execute(still_valid)], "assertion.reinstated")
    return {"released": len(free), "superseded": superseded}


class RecordMarks:
    """Which of a person's records are disputed now, and the notes objections left on them."""

    def __init__(self, disputed: Mapping[str, str], score_disputed: bool, notes: Mapping[str, list[dict[str, Any]]]):
        self.disputed = disputed  # record ref → open objection id
        self.score_disputed = score_disputed
        self.notes = notes

    def for_record(self, ref: str) -> dict[str, Any]:
        return {"disputed": ref in self.disputed, "notes": list(self.notes.get(ref, ()))}

    def apply(self, view: dict[str, Any]) -> dict[str, Any]:
        """Add the marks to a score view (resident's or officer's) in place; also returned."""
        for entry in view.get("breakdown") or ():
            entry["records"] = [{**r, **self.for_record(str(r.get("ref")))} for r in entry["records"]]
        view["disputed"] = self.score_disputed or bool(self.disputed)
        view["disputed_records"] = sorted(self.disputed)
        view["record_notes"] = [{"ref": ref, **n} for ref, ns in sorted(self.notes.items()) for n in ns]
        return view


def load_marks(conn: Connection, person_ids: Iterable[int]) -> RecordMarks:
    ids = sorted(set(person_ids))
    o, n = objections, record_notes
    rows = conn.execute(
        select(o.c.id, o.c.target_type, o.c.target_ref).where(and_(o.c.person_id.in_(ids), o.c.state.in_(OPEN_STATES)))
    ).all()
    disputed = {r.target_ref: r.id for r in rows if r.target_type == "record"}
    score_disputed = any(r.target_type == "score" for r in rows)
    notes: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(select(n).where(n.c.person_id.in_(ids)).order_by(n.c.id)):
        notes.setdefault(r.record_ref, []).append(
            {
                "kind": r.kind,
                "objection": r.objection_id,
                "answer": r.answer,
                "verification": r.verification,
                "counts": r.counts,
                "at": as_utc(r.created_at).isoformat(),
            }
        )
    return RecordMarks(disputed, score_disputed, notes)
