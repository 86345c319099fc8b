"""Tables of issue 13 (operations): the audit chain heads, idempotency records, rate-limit windows.

Everything a request needs lives here rather than in one process, so several gateway processes
over one PostgreSQL agree (idempotent replays, shared rate limits, one audit chain).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from gateway.store.tables import Id, Stamp, metadata

__all__ = ["audit_chain_heads", "idempotency_records", "rate_limit_windows"]

# One row per audit chain: the sequence number and hash of its newest row. Appending locks this row
# (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers).
audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("seq", Id, nullable=False),
    Column("head_hash", String(64), nullable=False),
)

# IETF Idempotency-Key: the first answer to (partner, endpoint, key), replayed for the same body.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("endpoint", String(64), primary_key=True),
    Column("idem_key", String(255), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
)
Index("ix_idempotency_records_expires_at", idempotency_records.c.expires_at)

# Fixed-window request counters per partner and endpoint (when Redis is not configured).
rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("endpoint", String(64), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)
