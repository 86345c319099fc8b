"""Appending to the audit log (who did what to whom, when). Rows are never updated or deleted:
migrations install triggers that refuse it on both databases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from gateway.store.tables import audit_log

__all__ = ["append_audit"]


def append_audit(
    conn: Connection,
    *,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_ref: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Write one audit row in the caller's transaction. ``details`` must hold no raw personal data:
    people are referred to by their keyed hash or internal id only."""
    conn.execute(
        insert(audit_log).values(
            at=datetime.now(UTC),
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_ref=target_ref,
            details=dict(details or {}),
        )
    )
