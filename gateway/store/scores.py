"""Score history and the current score per person.

A history row is appended whenever a person's result changes (every computation, before issue 12);
a recompute that finds the same result only confirms the current score's ``as_of``.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from gateway.scoring import ScoreResult
from gateway.store import driver_sql
from gateway.store.tables import score_history

__all__ = [
    "Changed",
    "CurrentScore",
    "Previous",
    "changed_row",
    "confirm_unchanged_in_range",
    "get_current",
    "get_history_row",
    "previous_for_ids",
    "previous_in_range",
    "result_digest",
    "store_changed",
    "store_results",
    "write_changed",
]

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class CurrentScore:
    person_id: int
    score_id: int
    eligible: bool
    reason: str | None
    score: int | None
    tier: str | None
    model_version: str
    as_of: date
    computed_at: datetime


def _breakdown_text(result: ScoreResult) -> str:
    """The breakdown as JSON text, built directly: indicator codes, families and record refs are
    identifiers from the model and the store (``[a-z_]``, ``r:123``) that never need escaping, and
    a full recompute writes a million of these."""
    parts = []
    for r in result.breakdown:
        refs = ",".join(f'"{ref}"' for ref in r.records)
        parts.append(
            f'{{"indicator":"{r.code}","family":"{r.family}","points":{r.points!r},'
            f'"uncapped_points":{r.uncapped_points!r},"capped":{"true" if r.capped else "false"},"records":[{refs}]}}'
        )
    return "[" + ",".join(parts) + "]"


def _allocate_ids(conn: Connection, n: int) -> list[int]:
    """Ids for ``n`` new history rows, chosen before the insert so that one executemany can write
    both tables. SQLite: the write transaction (BEGIN IMMEDIATE) holds the database's write lock,
    so MAX(id) cannot move under us. PostgreSQL: the table's own sequence."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('score_history', 'id')) FROM generate_series(1, %(n)s)", {"n": n}
        )
        return [int(r[0]) for r in rows]
    start = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM score_history").scalar_one()) + 1
    return list(range(start, start + n))


_HISTORY_SQL = (
    "INSERT INTO score_history (id, person_id, computed_at, as_of, model_version, trigger, eligible, reason, "
    "score, tier, breakdown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {json})"
)
_CURRENT_SQL = (
    "INSERT INTO current_scores (person_id, score_id, eligible, reason, score, tier, model_version, as_of, "
    "computed_at, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (person_id) DO UPDATE SET "
    "score_id = excluded.score_id, eligible = excluded.eligible, reason = excluded.reason, score = excluded.score, "
    "tier = excluded.tier, model_version = excluded.model_version, as_of = excluded.as_of, "
    "computed_at = excluded.computed_at, digest = excluded.digest"
)


class Previous(NamedTuple):
    """What a person's current score was when it was read: compared again before writing."""

    score_id: int
    digest: str | None
    computed_at: Any  # as the driver returns it; only compared for equality


def result_digest(r: ScoreResult) -> str:
    """Identifies a result: eligibility, reason, score, tier, model version and the whole breakdown.

    Cheaper than the breakdown text (a full recompute computes one per person and writes the text
    only for those whose digest changed). Pickle of plain tuples is deterministic for equal values
    built the same way; where object sharing differs it yields different bytes, i.e. a spurious
    "changed" (one extra history row), never a spurious "unchanged". An indicator that scored
    nothing from no record is left out: the breakdown lists every indicator of the model in the
    model's order, so such an entry is fixed by the model version, which the key holds.
    """
    parts = tuple(
        (b.code, b.points, b.uncapped_points, b.capped, b.records)
        for b in r.breakdown
        if b.records or b.points or b.uncapped_points or b.capped
    )
    key = (r.eligible, r.reason, r.score, r.tier.code if r.tier else None, r.model_version, parts)
    return hashlib.blake2b(pickle.dumps(key, protocol=5), digest_size=16).hexdigest()


class Changed(NamedTuple):
    """A result to store, already in the shape of its rows (built where it was computed)."""

    person_id: int
    eligible: bool
    reason: str | None
    score: int | None
    tier: str | None
    model_version: str
    as_of: date
    digest: str
    breakdown: str


def changed_row(person_id: int, r: ScoreResult, digest: str | None = None) -> Changed:
    return Changed(
        person_id, r.eligible, r.reason, r.score, r.tier.code if r.tier else None, r.model_version, r.as_of,
        digest or result_digest(r), _breakdown_text(r),
    )  # fmt: skip


_PREVIOUS_SQL = "SELECT person_id, score_id, digest, computed_at FROM current_scores WHERE person_id {cond}"


def _previous(conn: Connection, cond: str, params: Sequence[Any]) -> dict[int, Previous]:
    rows = driver_sql.execute(conn, _PREVIOUS_SQL.format(cond=cond), tuple(params))
    new = tuple.__new__  # without the named tuple's Python-level __new__, as in records.py
    return {row[0]: new(Previous, row[1:]) for row in rows}


def previous_in_range(conn: Connection, first_id: int, last_id: int) -> dict[int, Previous]:
    """Current scores of people with ``first_id <= id <= last_id`` (one range scan)."""
    return _previous(conn, "BETWEEN ? AND ?", (first_id, last_id))


def previous_for_ids(conn: Connection, person_ids: Sequence[int]) -> dict[int, Previous]:
    out: dict[int, Previous] = {}
    for i in range(0, len(person_ids), _IN_CHUNK):
        chunk = person_ids[i : i + _IN_CHUNK]
        out.update(_previous(conn, f"IN ({', '.join('?' * len(chunk))})", chunk))
    return out


def store_results(
    conn: Connection,
    results: Sequence[tuple[int, ScoreResult]],
    *,
    computed_at: datetime,
    trigger: str,
) -> None:
    """Append one history row per result and point each person's current score at it (always,
    changed or not: :func:`store_changed` is the path that skips unchanged results)."""
    write_changed(conn, [changed_row(pid, r) for pid, r in results], computed_at=computed_at, trigger=trigger)


def write_changed(conn: Connection, rows: Sequence[Changed], *, computed_at: datetime, trigger: str) -> None:
    """Append one history row per result and point each person's current score at it.

    Written with two executemany calls on the driver: the ORM-free Core path still spent more
    time building parameters than the database spent storing rows.
    """
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    # SQLite stores what SQLAlchemy's DateTime/Date would: ISO text, UTC without offset.
    stamp = driver_sql.stamp(conn, computed_at)
    ids = _allocate_ids(conn, len(rows))
    history = []
    current = []
    for sid, c in zip(ids, rows, strict=True):
        as_of: Any = c.as_of.isoformat() if sqlite else c.as_of
        history.append((sid, c.person_id, stamp, as_of, c.model_version, trigger, c.eligible, c.reason, c.score,
                        c.tier, c.breakdown))  # fmt: skip
        current.append((c.person_id, sid, c.eligible, c.reason, c.score, c.tier, c.model_version, as_of, stamp,
                        c.digest))  # fmt: skip
    history_sql = _HISTORY_SQL.format(json="?" if sqlite else "?::jsonb")
    driver_sql.execute_many(conn, history_sql, history)
    driver_sql.execute_many(conn, _CURRENT_SQL, current)


def _stamp_and_day(conn: Connection, computed_at: datetime, as_of: date) -> tuple[Any, Any]:
    return driver_sql.stamp(conn, computed_at), as_of.isoformat() if conn.dialect.name == "sqlite" else as_of


def confirm_unchanged_in_range(
    conn: Connection, first_id: int, last_id: int, *, as_of: date, computed_at: datetime
) -> None:
    """The current scores in the range that were not rewritten are still true on ``as_of``: say so
    (issuance rescores a score whose ``as_of`` is not today). One statement for the whole range."""
    stamp, day = _stamp_and_day(conn, computed_at, as_of)
    driver_sql.execute(
        conn,
        "UPDATE current_scores SET as_of = ?, computed_at = ? WHERE person_id BETWEEN ? AND ? AND as_of <> ?",
        (day, stamp, first_id, last_id, day),
    )


def store_changed(
    conn: Connection,
    results: Sequence[tuple[int, ScoreResult]],
    *,
    computed_at: datetime,
    trigger: str,
) -> list[int]:
    """Store only the results that differ from the person's current score; the others keep their
    history row and have their ``as_of`` confirmed. Returns the ids of the people whose result
    changed. Runs in the caller's write transaction (which holds the people's locks)."""
    if not results:
        return []
    previous = previous_for_ids(conn, sorted(pid for pid, _ in results))
    changed: list[Changed] = []
    unchanged: list[tuple[Any, Any, int]] = []
    days: dict[date, tuple[Any, Any]] = {}
    for pid, r in results:
        digest = result_digest(r)
        prev = previous.get(pid)
        if prev is not None and prev.digest == digest:
            stamp, day = days.get(r.as_of) or days.setdefault(r.as_of, _stamp_and_day(conn, computed_at, r.as_of))
            unchanged.append((day, stamp, pid))
        else:
            changed.append(changed_row(pid, r, digest))
    write_changed(conn, changed, computed_at=computed_at, trigger=trigger)
    if unchanged:
        sql = "UPDATE current_scores SET as_of = ?, computed_at = ? WHERE person_id = ?"
        driver_sql.execute_many(conn, sql, unchanged)
    return [c.person_id for c in changed]


# On the driver's cursor (issue 12: SQLAlchemy's execution path cost more than SQLite's own work on
# issuance's lookups); the digest is the recompute's business, not CurrentScore's.
_GET_CURRENT_SQL = (
    "SELECT person_id, score_id, eligible, reason, score, tier, model_version, as_of, computed_at "
    "FROM current_scores WHERE person_id = ?"
)


def get_current(conn: Connection, person_id: int) -> CurrentScore | None:
    rows = driver_sql.query(conn, _GET_CURRENT_SQL, (person_id,))
    if not rows:
        return None
    pid, score_id, eligible, reason, score, tier, model_version, as_of, computed_at = rows[0]
    return CurrentScore(
        pid,
        score_id,
        bool(eligible),
        reason,
        score,
        tier,
        model_version,
        driver_sql.read_date(as_of),
        driver_sql.read_stamp(computed_at),
    )


def get_history_row(conn: Connection, score_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(score_history).where(score_history.c.id == score_id)).mappings().first()
    return dict(row) if row else None
