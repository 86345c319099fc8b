"""Information records and provincial evaluations: idempotent inserts and the scoring read path."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table

from gateway.scoring import RecordInput
from gateway.store import driver_sql
from gateway.store.tables import provincial_evaluations

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


_INSERT_ROWS = 2000  # rows per statement: 12 columns stay under SQLite's 32,766 parameters
_COLUMNS = {
    "information_records": (
        "person_id", "unit_id", "source_ref", "item_code", "catalogue_version", "status", "occurred_at",
        "value_number", "value_code", "valid_until", "attributes", "received_at",
    ),
    "provincial_evaluations": (
        "person_id", "unit_id", "source_ref", "score", "evaluated_on", "edition", "status", "received_at",
    ),
}  # fmt: skip


def _driver_rows(columns: tuple[str, ...], rows: Sequence[dict[str, Any]], sqlite: bool) -> list[Any]:
    """The rows' values, flattened, as SQLAlchemy's column types would send them: attributes as
    JSON text and, on SQLite, dates as ISO text and stamps in UTC without offset. Values that
    repeat across a batch (the receipt stamp, dates) are converted once."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    seen: dict[Any, Any] = {None: None}

    def text(value: Any) -> Any:
        out = seen.get(value)
        if out is None:
            out = seen[value] = driver_sql.sqlite_stamp(value) if isinstance(value, datetime) else value.isoformat()
        return out

    convert = [
        dumps
        if c == "attributes"
        else text
        if sqlite and c in ("occurred_at", "valid_until", "evaluated_on", "received_at")
        else None
        for c in columns
    ]
    out: list[Any] = []
    for r in rows:
        out.extend(
            r.get(c) if f is None else f(r[c]) if r.get(c) is not None else None
            for c, f in zip(columns, convert, strict=True)
        )
    return out


def insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows, skipping any whose (unit_id, source_ref) exists; return the inserted refs.

    The unique constraint decides, not a prior SELECT, so two processes receiving the same record
    at once still store it once. One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per
    2,000 rows on the driver's cursor (issue 12: SQLAlchemy's per-row parameter processing cost more
    than the insert).
    """
    if not rows:
        return set()
    columns = _COLUMNS[table.name]
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    row_marks = "(" + ", ".join((mark,) * len(columns)) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "  # noqa: S608 - names from _COLUMNS
    tail = " ON CONFLICT (unit_id, source_ref) DO NOTHING RETURNING source_ref"
    inserted: set[str] = set()
    cursor = driver_sql.cursor(conn)
    try:
        for i in range(0, len(rows), _INSERT_ROWS):
            part = rows[i : i + _INSERT_ROWS]
            params = _driver_rows(columns, part, sqlite)
            cursor.execute(head + ", ".join((row_marks,) * len(part)) + tail, params)
            inserted.update(r[0] for r in cursor.fetchall())
    finally:
        cursor.close()
    return inserted


# Only valid records can count, so only those are read; the scoring core filters by status again on
# its own. The reference ("r:<id>") is built by the database. SQLite's "+status" keeps the status test
# from steering its planner to the (status, item) index, which would scan every valid record for each
# chunk: the person_id index is used (PostgreSQL has no such operator and needs no such hint).
_REC_SQL = (
    "SELECT person_id, 'r:' || id, item_code, occurred_at, value_number, value_code, valid_until "
    "FROM information_records WHERE person_id {cond} AND {plus}status = 'valid'"
)
_PE_SQL = (
    "SELECT person_id, 'p:' || id, evaluated_on, score "
    "FROM provincial_evaluations WHERE person_id {cond} AND {plus}status = 'valid'"
)


class _Dates:
    """SQLite hands dates back as ISO text; the same few thousand days repeat across millions of
    rows, so each is parsed once."""

    def __init__(self) -> None:
        self._seen: dict[Any, date | None] = {None: None}

    def __call__(self, value: Any) -> date | None:
        try:
            return self._seen[value]
        except KeyError:
            parsed = value if isinstance(value, date) else date.fromisoformat(value)
            self._seen[value] = parsed
            return parsed


def _collect(conn: Connection, cond: str, params: tuple[Any, ...]) -> dict[int, list[RecordInput]]:
    out: dict[int, list[RecordInput]] = defaultdict(list)
    day = _Dates()
    plus = "+" if conn.dialect.name == "sqlite" else ""
    valid, provincial, new, ri = "valid", PROVINCIAL_ITEM, tuple.__new__, RecordInput
    # This loop runs ten million times in a full recompute: tuple.__new__ builds the named tuple
    # without the Python-level __new__ that RecordInput(...) goes through (same fields, same type).
    records = driver_sql.execute(conn, _REC_SQL.format(cond=cond, plus=plus), params)
    for pid, ref, item, occurred, number, code, until in records:
        out[pid].append(new(ri, (ref, item, valid, day(occurred), number, code, until and day(until))))
    for pid, ref, evaluated_on, score in driver_sql.execute(conn, _PE_SQL.format(cond=cond, plus=plus), params):
        out[pid].append(new(ri, (ref, provincial, valid, day(evaluated_on), float(score), None, None)))
    return out


def load_records_for_ids(conn: Connection, person_ids: Iterable[int]) -> dict[int, list[RecordInput]]:
    ids = sorted(set(person_ids))
    out: dict[int, list[RecordInput]] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = tuple(ids[i : i + _IN_CHUNK])
        out.update(_collect(conn, f"IN ({', '.join('?' * len(chunk))})", chunk))
    return out


def load_records_in_range(conn: Connection, first_id: int, last_id: int) -> dict[int, list[RecordInput]]:
    """Records of people with ``first_id <= id <= last_id``: one range scan per table per chunk."""
    return _collect(conn, "BETWEEN ? AND ?", (first_id, last_id))
