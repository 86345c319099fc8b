"""Operations (issue 13): the audit hash chain, idempotency records, rate-limit windows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(JSONB(), "postgresql")
GENESIS = "0" * 64


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): on SQLite a table rebuild would drop the append-only triggers.
    op.add_column("audit_log", sa.Column("chain", sa.String(32)))
    op.add_column("audit_log", sa.Column("seq", Id))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_log", sa.Column("row_hash", sa.String(64)))
    op.create_index("ux_audit_log_chain_seq", "audit_log", ["chain", "seq"], unique=True)
    heads = op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(32)),
        sa.Column("seq", Id, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_audit_chain_heads"),
    )
    # The head exists before the first append, so concurrent first appends lock a row, not a gap.
    op.bulk_insert(heads, [{"chain": "audit", "seq": 0, "head_hash": GENESIS}])
    op.create_table(
        "idempotency_records",
        sa.Column("partner_id", sa.String(64)),
        sa.Column("endpoint", sa.String(64)),
        sa.Column("idem_key", sa.String(255)),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "endpoint", "idem_key", name="pk_idempotency_records"),
    )
    op.create_index("ix_idempotency_records_expires_at", "idempotency_records", ["expires_at"])
    op.create_table(
        "rate_limit_windows",
        sa.Column("partner_id", sa.String(64)),
        sa.Column("endpoint", sa.String(64)),
        sa.Column("window_start", sa.BigInteger),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "endpoint", "window_start", name="pk_rate_limit_windows"),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Stamp, nullable=False),
        sa.Column("delivered_at", Stamp),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        sa.UniqueConstraint("event_id", name="uq_webhook_outbox_event_id"),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", Stamp, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index("ix_webhook_deliveries_partner_id", "webhook_deliveries", ["partner_id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_outbox")
    op.drop_table("rate_limit_windows")
    op.drop_index("ix_idempotency_records_expires_at", table_name="idempotency_records")
    op.drop_table("idempotency_records")
    op.drop_table("audit_chain_heads")
    op.drop_index("ux_audit_log_chain_seq", table_name="audit_log")
    for column in ("row_hash", "prev_hash", "seq", "chain"):
        op.drop_column("audit_log", column)
