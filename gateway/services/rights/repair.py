"""Credit repair (信用修复, measure 四(一)) and record corrections.

Negative information that has been repaired under national and provincial rules stops counting: a
credit officer, or the collaborating unit that supplied the record, marks it ``repaired`` with the
reference of the repair decision. The record stays (the history is the evidence) but no longer
counts; the person is rescored and their live assertions that now state something untrue are
superseded — all in one transaction, audited with the actor and the decision.

An upheld objection marks its record ``corrected`` through :func:`correct_record`, in the
objection's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Table, select, update

from gateway.clock import utcnow
from gateway.errors import Conflict, NotFound, ValidationFailed
from gateway.partners import Partner
from gateway.scoring import ScoreResult
from gateway.services.context import Gateway
from gateway.services.scores.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store.audit import append_audit
from gateway.store.records import PROVINCIAL_ITEM
from gateway.store.tables import information_records, provincial_evaluations

__all__ = [
    "NEGATIVE_ITEMS",
    "RecordNotFound",
    "RecordNotRepairable",
    "RecordRef",
    "RecordStateConflict",
    "correct_record",
    "parse_record_ref",
    "repair_by_officer",
    "repair_by_unit",
    "repair_record",
]

# The catalogue items that lower a score; only these can be repaired.
NEGATIVE_ITEMS: Final = frozenset({"pledge_breach"})
# Statuses a correction can leave: a record already out of scoring stays as it is.
_CORRECTABLE: Final = ("valid", "pending")
_REF: Final = re.compile(r"([rp]):([1-9][0-9]{0,17})")


class RecordNotFound(NotFound):
    code = "record_not_found"
    title = "The record does not exist"


class RecordNotRepairable(ValidationFailed):
    code = "record_not_repairable"
    title = "Only negative information can be repaired"


class RecordStateConflict(Conflict):
    code = "record_state_conflict"
    title = "The record is not in a state that allows this"


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: int
    person_id: int
    unit_id: str
    item_code: str
    status: str
    status_reason: str | None


@dataclass(frozen=True, slots=True)
class RecordRef:
    """``r:<id>`` (an information record) or ``p:<id>`` (a provincial evaluation)."""

    table: Table
    id: int

    def __str__(self) -> str:
        return ("p:" if self.table is provincial_evaluations else "r:") + str(self.id)

    def load(self, conn: Connection) -> RecordRow | None:
        t = self.table
        records = t is information_records
        cols = [t.c.id, t.c.person_id, t.c.unit_id, t.c.status, t.c.status_reason]
        row = conn.execute(select(*cols, *([t.c.item_code] if records else [])).where(t.c.id == self.id)).first()
        if row is None:
            return None
        item_code = row.item_code if records else PROVINCIAL_ITEM
        return RecordRow(row.id, row.person_id, row.unit_id, item_code, row.status, row.status_reason)


def parse_record_ref(ref: str) -> RecordRef:
    """:raises RecordNotFound: (404) not a record reference at all."""
    match = _REF.fullmatch(ref)
    if match is None:
        raise RecordNotFound("A record reference looks like 'r:123' or 'p:45'.")
    table = information_records if match.group(1) == "r" else provincial_evaluations
    return RecordRef(table, int(match.group(2)))


def _set_status(conn: Connection, ref: RecordRef, before: str, after: str, reason: str) -> bool:
    t = ref.table
    changed = conn.execute(
        update(t)
        .where(t.c.id == ref.id, t.c.status == before)
        .values(status=after, status_changed_at=utcnow(), status_reason=reason)
    ).rowcount
    return bool(changed)


def correct_record(conn: Connection, ref: RecordRef, *, officer_id: str, objection_id: str) -> dict[str, Any]:
    """Mark a record corrected (it stops counting) for an upheld objection; the caller rescores."""
    record = ref.load(conn)
    if record is None:
        raise RecordNotFound("The objection's record no longer exists.")
    after = "corrected" if record.status in _CORRECTABLE else record.status
    if after != record.status:
        _set_status(conn, ref, record.status, after, f"objection {objection_id}")
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action="record.correct",
            target_type="record",
            target_ref=str(ref),
            details={"before": record.status, "after": after, "reason": f"objection {objection_id}"},
        )
    return {"ref": str(ref), "before": record.status, "after": after}


def _repair(
    gw: Gateway, conn: Connection, ref: RecordRef, *, actor_type: str, actor_id: str, decision_ref: str
) -> tuple[RecordRow, bool, ScoreResult | None]:
    record = ref.load(conn)
    if record is None:
        raise RecordNotFound("No record has this reference.")
    if record.item_code not in NEGATIVE_ITEMS:
        raise RecordNotRepairable("Only negative information (pledge breaches) can be repaired.", item=record.item_code)
    if record.status == "repaired" and record.status_reason == decision_ref:
        return record, False, None  # a retry of the same repair changes nothing
    if record.status != "valid":
        raise RecordStateConflict("Only a record that counts can be repaired.", current_status=record.status)
    people_store.lock_people(conn, [record.person_id])
    if not _set_status(conn, ref, "valid", "repaired", decision_ref):
        raise RecordStateConflict("The record changed while it was being repaired.")
    rescored = recompute_people(conn, gw, [record.person_id], trigger="repair")
    append_audit(
        conn,
        actor_type=actor_type,
        actor_id=actor_id,
        action="record.repair",
        target_type="record",
        target_ref=str(ref),
        details={"before": "valid", "after": "repaired", "decision_ref": decision_ref, "item": record.item_code},
    )
    return record, True, rescored[0][1] if rescored else None


def repair_record(
    gw: Gateway, conn: Connection, ref: RecordRef, *, actor_type: str, actor_id: str, decision_ref: str
) -> tuple[RecordRow, bool, ScoreResult | None]:
    """Repair inside the caller's transaction (a resident's approved repair application, issue 14)."""
    return _repair(gw, conn, ref, actor_type=actor_type, actor_id=actor_id, decision_ref=decision_ref)


def repair_by_officer(gw: Gateway, officer_id: str, ref: str, decision_ref: str) -> dict[str, Any]:
    """A credit officer repairs ``ref``; the answer includes the new score (officers may see it).

    :raises RecordNotFound: (404), :raises RecordNotRepairable: (422) not negative information,
    :raises RecordStateConflict: (409) already out of scoring under another decision.
    """
    parsed = parse_record_ref(ref)
    with gw.engine.begin() as conn:
        _, changed, score = _repair(
            gw, conn, parsed, actor_type="officer", actor_id=officer_id, decision_ref=decision_ref
        )
    out: dict[str, Any] = {
        "record": str(parsed),
        "status": "repaired",
        "decision_ref": decision_ref,
        "changed": changed,
    }
    if score is not None:
        out["score"] = score.score
        out["tier"] = score.tier.code if score.tier else None
    return out


def repair_by_unit(gw: Gateway, unit: Partner, source_ref: str, decision_ref: str) -> dict[str, Any]:
    """The unit that supplied a record (its own ``source_ref``) repairs it. The answer carries no
    score: a unit supplies information, it is not entitled to learn the result.

    :raises RecordNotFound: (404) the unit supplied no record under this reference — another unit's
        record gets the same answer.
    """
    t = information_records
    with gw.engine.begin() as conn:
        found = conn.execute(select(t.c.id).where(t.c.unit_id == unit.id, t.c.source_ref == source_ref)).first()
        if found is None:
            raise RecordNotFound("You supplied no record under this source reference.")
        ref = RecordRef(t, found.id)
        _, changed, _ = _repair(gw, conn, ref, actor_type="unit", actor_id=unit.id, decision_ref=decision_ref)
    return {"source_ref": source_ref, "status": "repaired", "decision_ref": decision_ref, "changed": changed}
