"""Appending to the audit log (who did what to whom, when). Rows are never updated or deleted:
migrations install triggers that refuse it on both databases.

Each row also carries the hash of the previous row of its chain (issue 13), so that a database
administrator who bypasses the triggers cannot delete, edit or reorder rows unnoticed
(``gateway audit verify``). The chain head is one row in ``audit_chain_heads``, locked by every
append: on PostgreSQL with ``SELECT … FOR UPDATE``, on SQLite by the write lock every write
transaction already takes. Appends of concurrent transactions therefore queue on that row for the
rest of the transaction; the audited operations are the rare, consequential ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gateway.clock import as_utc
from gateway.store.tables import audit_log
from gateway.store.tables_operations import audit_chain_heads

__all__ = ["AUDIT_CHAIN", "GENESIS", "append_audit", "row_hash"]

AUDIT_CHAIN = "audit"
GENESIS = "0" * 64


def row_hash(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    at: datetime,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_ref: str,
    details: Mapping[str, Any],
) -> str:
    """SHA-256 over a canonical JSON array of the row's content and its predecessor's hash. The
    time is normalised to UTC microseconds, so the value read back from either database hashes the
    same as the one written."""
    canonical = json.dumps(
        [
            chain,
            seq,
            prev_hash,
            as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor_type,
            actor_id,
            action,
            target_type,
            target_ref,
            details,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    body = json.loads(json.dumps(dict(details or {}), allow_nan=False))  # what the database will return
    head = conn.execute(
        select(audit_chain_heads.c.seq, audit_chain_heads.c.head_hash)
        .where(audit_chain_heads.c.chain == AUDIT_CHAIN)
        .with_for_update()
    ).one()
    at = datetime.now(UTC)
    seq = int(head.seq) + 1
    digest = row_hash(
        chain=AUDIT_CHAIN,
        seq=seq,
        prev_hash=head.head_hash,
        at=at,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_ref=target_ref,
        details=body,
    )
    conn.execute(
        insert(audit_log).values(
            at=at,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_ref=target_ref,
            details=body,
            chain=AUDIT_CHAIN,
            seq=seq,
            prev_hash=head.head_hash,
            row_hash=digest,
        )
    )
    conn.execute(
        update(audit_chain_heads).where(audit_chain_heads.c.chain == AUDIT_CHAIN).values(seq=seq, head_hash=digest)
    )
