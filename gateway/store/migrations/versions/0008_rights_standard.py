"""Residents' rights to the national standard (issue 14): objection deadlines in working days,
checks by the supplying unit, dispute suspensions, record notes and repair applications.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "objection_deadlines",
        sa.Column("objection_id", sa.String(64), sa.ForeignKey("objections.id"), primary_key=True),
        sa.Column("phase", sa.String(16), primary_key=True),
        sa.Column("due_at", Stamp, nullable=False),
        sa.Column("met_at", Stamp),
    )
    op.create_index("ix_objection_deadlines_due", "objection_deadlines", ["met_at", "due_at"])
    op.create_table(
        "verification_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("objection_id", sa.String(64), sa.ForeignKey("objections.id"), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("record_ref", sa.String(64), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("item_code", sa.String(48), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", Stamp, nullable=False),
        sa.Column("due_at", Stamp, nullable=False),
        sa.Column("answer", sa.String(16)),
        sa.Column("answer_ref", sa.String(64)),
        sa.Column("answer_note", sa.Text),
        sa.Column("answered_at", Stamp),
    )
    op.create_index("ix_verification_requests_objection_id", "verification_requests", ["objection_id"])
    op.create_index("ix_verification_requests_unit_state", "verification_requests", ["unit_id", "state"])
    op.create_table(
        "dispute_suspensions",
        sa.Column("objection_id", sa.String(64), sa.ForeignKey("objections.id"), primary_key=True),
        sa.Column("jti", sa.String(128), primary_key=True),
        sa.Column("suspended_at", Stamp, nullable=False),
        sa.Column("released_at", Stamp),
    )
    op.create_index("ix_dispute_suspensions_jti", "dispute_suspensions", ["jti"])
    op.create_table(
        "record_notes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("record_ref", sa.String(64), nullable=False),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("objection_id", sa.String(64), nullable=False),
        sa.Column("verification", Json),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("counts", sa.Boolean, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_index("ix_record_notes_record_ref", "record_notes", ["record_ref"])
    op.create_index("ix_record_notes_person_id", "record_notes", ["person_id"])
    op.create_table(
        "repair_applications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("record_ref", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("evidence", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deadline", Stamp, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.Column("officer_id", sa.String(64)),
        sa.Column("decision_ref", sa.String(64)),
        sa.Column("answer", sa.Text),
        sa.Column("row_version", sa.Integer, nullable=False),
    )
    op.create_index("ix_repair_applications_person_id", "repair_applications", ["person_id"])
    op.create_index("ix_repair_applications_state_deadline", "repair_applications", ["state", "deadline"])


def downgrade() -> None:
    for table in (
        "repair_applications",
        "record_notes",
        "dispute_suspensions",
        "verification_requests",
        "objection_deadlines",
    ):
        op.drop_table(table)
