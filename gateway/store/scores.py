"""Score history (every computation kept) and the current score per person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from gateway.scoring import ScoreResult
from gateway.store.tables import current_scores, score_history

__all__ = ["CurrentScore", "get_current", "get_history_row", "store_results"]


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
    "computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (person_id) DO UPDATE SET "
    "score_id = excluded.score_id, eligible = excluded.eligible, reason = excluded.reason, score = excluded.score, "
    "tier = excluded.tier, model_version = excluded.model_version, as_of = excluded.as_of, "
    "computed_at = excluded.computed_at"
)


def store_results(
    conn: Connection,
    results: Sequence[tuple[int, ScoreResult]],
    *,
    computed_at: datetime,
    trigger: str,
) -> None:
    """Append one history row per result and point each person's current score at it.

    Written with two executemany calls on the driver: the ORM-free Core path still spent more
    time building parameters than the database spent storing rows.
    """
    if not results:
        return
    sqlite = conn.dialect.name == "sqlite"
    # SQLite stores what SQLAlchemy's DateTime/Date would: ISO text, UTC without offset.
    stamp: Any = computed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else computed_at
    ids = _allocate_ids(conn, len(results))
    history = []
    current = []
    for sid, (pid, r) in zip(ids, results, strict=True):
        as_of: Any = r.as_of.isoformat() if sqlite else r.as_of
        tier = r.tier.code if r.tier else None
        history.append((sid, pid, stamp, as_of, r.model_version, trigger, r.eligible, r.reason, r.score, tier,
                        _breakdown_text(r)))  # fmt: skip
        current.append((pid, sid, r.eligible, r.reason, r.score, tier, r.model_version, as_of, stamp))
    history_sql = _HISTORY_SQL.format(json="?" if sqlite else "?::jsonb")
    current_sql = _CURRENT_SQL
    if not sqlite:
        history_sql, current_sql = history_sql.replace("?", "%s"), current_sql.replace("?", "%s")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(history_sql, history)
        cursor.executemany(current_sql, current)
    finally:
        cursor.close()


_GET_CURRENT = select(current_scores).where(current_scores.c.person_id == bindparam("pid"))  # built once (issue 12)


def get_current(conn: Connection, person_id: int) -> CurrentScore | None:
    row = conn.execute(_GET_CURRENT, {"pid": person_id}).first()
    return CurrentScore(*row) if row else None


def get_history_row(conn: Connection, score_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(score_history).where(score_history.c.id == score_id)).mappings().first()
    return dict(row) if row else None
