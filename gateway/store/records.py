"""Information records and provincial evaluations: idempotent inserts and the scoring read path."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, select

from gateway.scoring import RecordInput
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.tables import information_records, provincial_evaluations

__all__ = [
    "PROVINCIAL_ITEM",
    "insert_new",
    "load_records_for_ids",
    "load_records_in_range",
    "record_ref",
]

PROVINCIAL_ITEM = "provincial_evaluation"
_IN_CHUNK = 500


def record_ref(table: Table, row_id: int) -> str:
    """The opaque reference the scoring breakdown uses: ``r:<id>`` for an information record,
    ``p:<id>`` for a provincial evaluation."""
    return ("p:" if table is provincial_evaluations else "r:") + str(row_id)


def insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows, skipping any whose (unit_id, source_ref) exists; return the inserted refs.

    The unique constraint decides, not a prior SELECT, so two processes receiving the same record
    at once still store it once.
    """
    if not rows:
        return set()
    stmt = insert_ignoring_conflicts(conn, table, ["unit_id", "source_ref"]).returning(table.c.source_ref)
    return {r[0] for r in conn.execute(stmt, list(rows))}


_REC_COLS = (
    information_records.c.id,
    information_records.c.person_id,
    information_records.c.item_code,
    information_records.c.status,
    information_records.c.occurred_at,
    information_records.c.value_number,
    information_records.c.value_code,
    information_records.c.valid_until,
)
_PE_COLS = (
    provincial_evaluations.c.id,
    provincial_evaluations.c.person_id,
    provincial_evaluations.c.status,
    provincial_evaluations.c.evaluated_on,
    provincial_evaluations.c.score,
)


def _collect(conn: Connection, rec_where: Any, pe_where: Any) -> dict[int, list[RecordInput]]:
    # Only valid records can count, so the rest are not even materialised; the scoring core
    # filters by status again on its own (it must be correct without this shortcut).
    out: dict[int, list[RecordInput]] = defaultdict(list)
    rec = select(*_REC_COLS).where(rec_where, information_records.c.status == "valid")
    for rid, pid, item, status, occurred, number, code, until in conn.execute(rec):
        out[pid].append(RecordInput("r:" + str(rid), item, status, occurred, number, code, until))
    pe = select(*_PE_COLS).where(pe_where, provincial_evaluations.c.status == "valid")
    for eid, pid, status, evaluated_on, score in conn.execute(pe):
        out[pid].append(RecordInput("p:" + str(eid), PROVINCIAL_ITEM, status, evaluated_on, float(score)))
    return out


def load_records_for_ids(conn: Connection, person_ids: Iterable[int]) -> dict[int, list[RecordInput]]:
    ids = sorted(set(person_ids))
    out: dict[int, list[RecordInput]] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        out.update(
            _collect(
                conn,
                information_records.c.person_id.in_(chunk),
                provincial_evaluations.c.person_id.in_(chunk),
            )
        )
    return out


def load_records_in_range(conn: Connection, first_id: int, last_id: int) -> dict[int, list[RecordInput]]:
    """Records of people with ``first_id <= id <= last_id``: one range scan per table per chunk."""
    return _collect(
        conn,
        and_(information_records.c.person_id >= first_id, information_records.c.person_id <= last_id),
        and_(provincial_evaluations.c.person_id >= first_id, provincial_evaluations.c.person_id <= last_id),
    )
