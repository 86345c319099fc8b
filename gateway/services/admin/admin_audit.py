"""Reading the audit log (auditors): newest first, filtered, paged by id.

Details never hold raw personal data (people appear by internal id or keyed hash only), which is
what makes the log safe to hand to an auditor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.errors import ValidationFailed
from gateway.services.context import Gateway
from gateway.services.recognition.crosswalks import aware
from gateway.store.engine import reader
from gateway.store.tables import audit_log

__all__ = ["AuditFilter", "read_audit"]

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_ref: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


def read_audit(gw: Gateway, f: AuditFilter) -> dict[str, Any]:
    """One page of audit rows matching every given filter; ``next_before_id`` pages further back."""
    if not 1 <= f.limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit is 1 to {MAX_LIMIT}.")
    if any(stamp is not None and stamp.tzinfo is None for stamp in (f.since, f.until)):
        raise ValidationFailed("since and until need a time zone (for example 2026-01-31T00:00:00Z).")
    t = audit_log
    stmt = select(t).order_by(t.c.id.desc()).limit(f.limit + 1)
    for column, value in (
        (t.c.actor_id, f.actor_id),
        (t.c.action, f.action),
        (t.c.target_type, f.target_type),
        (t.c.target_ref, f.target_ref),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    # In UTC: SQLite keeps the wall-clock time it was given and would compare offsets away.
    if f.since is not None:
        stmt = stmt.where(t.c.at >= f.since.astimezone(UTC))
    if f.until is not None:
        stmt = stmt.where(t.c.at < f.until.astimezone(UTC))
    if f.before_id is not None:
        stmt = stmt.where(t.c.id < f.before_id)
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(stmt).all()
        conn.rollback()
    page = rows[: f.limit]
    return {
        "items": [
            {
                "id": r.id,
                "at": aware(r.at).isoformat(),
                "actor_type": r.actor_type,
                "actor_id": r.actor_id,
                "action": r.action,
                "target_type": r.target_type,
                "target_ref": r.target_ref,
                "details": r.details,
            }
            for r in page
        ],
        "next_before_id": page[-1].id if len(rows) > f.limit else None,
    }
