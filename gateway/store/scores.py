"""Score history (every computation kept) and the current score per person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.scoring import ScoreResult
from gateway.store.dialect import upsert
from gateway.store.tables import current_scores, score_history

__all__ = ["CurrentScore", "breakdown_json", "get_current", "get_history_row", "store_results"]


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


def breakdown_json(result: ScoreResult) -> list[dict[str, Any]]:
    return [
        {
            "indicator": r.code,
            "family": r.family,
            "points": r.points,
            "uncapped_points": r.uncapped_points,
            "capped": r.capped,
            "records": list(r.records),
        }
        for r in result.breakdown
    ]


def store_results(
    conn: Connection,
    results: Sequence[tuple[int, ScoreResult]],
    *,
    computed_at: datetime,
    trigger: str,
) -> None:
    """Append one history row per result and point each person's current score at it."""
    if not results:
        return
    rows = [
        {
            "person_id": pid,
            "computed_at": computed_at,
            "as_of": r.as_of,
            "model_version": r.model_version,
            "trigger": trigger,
            "eligible": r.eligible,
            "reason": r.reason,
            "score": r.score,
            "tier": r.tier.code if r.tier else None,
            "breakdown": breakdown_json(r),
        }
        for pid, r in results
    ]
    stmt = insert(score_history).returning(score_history.c.id, sort_by_parameter_order=True)
    ids = [row[0] for row in conn.execute(stmt, rows)]
    current = [
        {
            "person_id": row["person_id"],
            "score_id": sid,
            "eligible": row["eligible"],
            "reason": row["reason"],
            "score": row["score"],
            "tier": row["tier"],
            "model_version": row["model_version"],
            "as_of": row["as_of"],
            "computed_at": computed_at,
        }
        for sid, row in zip(ids, rows, strict=True)
    ]
    cols = ["score_id", "eligible", "reason", "score", "tier", "model_version", "as_of", "computed_at"]
    conn.execute(upsert(conn, current_scores, ["person_id"], cols), current)


def get_current(conn: Connection, person_id: int) -> CurrentScore | None:
    row = conn.execute(select(current_scores).where(current_scores.c.person_id == person_id)).first()
    return CurrentScore(*row) if row else None


def get_history_row(conn: Connection, score_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(score_history).where(score_history.c.id == score_id)).mappings().first()
    return dict(row) if row else None
