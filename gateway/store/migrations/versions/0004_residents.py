"""Residents' own acts (issue 9): consent requests, callback attempts, personal statements,
officers' look-ups with their stated purpose.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.String(64)),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("disclosure", sa.String(8), nullable=False),
        sa.Column("valid_days", sa.Integer, nullable=False),
        sa.Column("programme_id", sa.String(64)),
        sa.Column("callback_uri", sa.String(512)),
        sa.Column("state", sa.String(256)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("answered_at", Stamp),
        sa.Column("person_id", Id),
        sa.Column("channel", sa.String(16)),
        sa.Column("notice_id", sa.String(64)),
        sa.Column("notice_version", sa.String(16)),
        sa.Column("consent_id", sa.String(64)),
        sa.Column("assertion", sa.Text),
        sa.Column("assertion_jti", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_consent_requests"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_consent_requests_person_id_people"),
    )
    op.create_index("ix_consent_requests_person_id", "consent_requests", ["person_id"])
    op.create_index("ix_consent_requests_partner_id", "consent_requests", ["partner_id"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", Stamp, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_callback_attempts"),
    )
    op.create_index("ix_callback_attempts_request_id", "callback_attempts", ["request_id"])
    op.create_table(
        "personal_statements",
        sa.Column("id", sa.String(64)),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("target_ref", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_personal_statements"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_personal_statements_person_id_people"),
    )
    op.create_index("ix_personal_statements_person_id", "personal_statements", ["person_id"])
    op.create_table(
        "officer_lookups",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("officer_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(256), nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("answer", Json, nullable=False),
        sa.Column("at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_officer_lookups"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_officer_lookups_person_id_people"),
    )
    op.create_index("ix_officer_lookups_person_id", "officer_lookups", ["person_id"])


def downgrade() -> None:
    for name in ("officer_lookups", "personal_statements", "callback_attempts", "consent_requests"):
        op.drop_table(name)
