"""Tables of issue 13 (operations): the audit chain heads, idempotency records, rate-limit windows.

Everything a request needs lives here rather than in one process, so several gateway processes
over one PostgreSQL agree (idempotent replays, shared rate limits, one audit chain).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from gateway.store.tables import Id, Json, Stamp, metadata

__all__ = ["audit_chain_heads", "idempotency_records", "rate_limit_windows", "webhook_deliveries", "webhook_outbox"]

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

# Signed webhooks: events written in the transaction of the change they report, delivered later by
# ``gateway worker``. partner_id "*" is every partner with a webhook (e.g. a signing-key rotation).
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("partner_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("state", String(16), nullable=False),  # pending, delivered, dead, no_endpoint
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Stamp, nullable=False),
    Column("delivered_at", Stamp),
)
Index("ix_webhook_outbox_due", webhook_outbox.c.state, webhook_outbox.c.next_attempt_at)

# One row per delivery attempt: what partners and administrators read.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, index=True),
    Column("partner_id", String(64), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Stamp, nullable=False),
    Column("outcome", String(32), nullable=False),  # delivered, http_status, network_error
    Column("status_code", Integer),
    Column("duration_ms", Integer, nullable=False),
)
