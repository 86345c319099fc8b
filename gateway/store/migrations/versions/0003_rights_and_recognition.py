"""Residents' rights (objections, status lists) and cross-city recognition (crosswalk versions,
partner overrides, recognitions, eligibility decisions).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("disclosures") as batch:
        batch.add_column(sa.Column("status_list", sa.Integer))
        batch.add_column(sa.Column("status_idx", sa.Integer))
    op.create_table(
        "objections",
        sa.Column("id", sa.String(64)),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_ref", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("evidence", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deadline", Stamp, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.Column("officer_id", sa.String(64)),
        sa.Column("answer", sa.Text),
        sa.Column("row_version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_objections"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_objections_person_id_people"),
    )
    op.create_index("ix_objections_person_id", "objections", ["person_id"])
    op.create_index("ix_objections_state_deadline", "objections", ["state", "deadline"])
    op.create_table(
        "status_slots",
        sa.Column("list_id", sa.Integer, autoincrement=False),
        sa.Column("idx", sa.Integer, autoincrement=False),
        sa.Column("jti", sa.String(128), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("list_id", "idx", name="pk_status_slots"),
        sa.UniqueConstraint("jti", name="uq_status_slots_jti"),
    )
    op.create_index("ix_status_slots_expires_at", "status_slots", ["expires_at"])
    op.create_table(
        "crosswalk_versions",
        sa.Column("crosswalk_id", sa.String(64)),
        sa.Column("version", sa.Integer, autoincrement=False),
        sa.Column("local_scheme", sa.String(64), nullable=False),
        sa.Column("common_scheme", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("document", Json, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("published_by", sa.String(64)),
        sa.Column("published_at", Stamp),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("crosswalk_id", "version", name="pk_crosswalk_versions"),
    )
    op.create_table(
        "crosswalk_heads",
        sa.Column("crosswalk_id", sa.String(64)),
        sa.Column("local_scheme", sa.String(64), nullable=False),
        sa.Column("published_version", sa.Integer),
        sa.Column("row_version", sa.Integer, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("crosswalk_id", name="pk_crosswalk_heads"),
        sa.UniqueConstraint("local_scheme", name="uq_crosswalk_heads_local_scheme"),
    )
    op.create_table(
        "partner_overrides",
        sa.Column("partner_id", sa.String(64)),
        sa.Column("enabled", sa.Boolean),
        sa.Column("jwks", Json),
        sa.Column("row_version", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("partner_id", name="pk_partner_overrides"),
    )
    op.create_table(
        "recognitions",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("assertion_issuer", sa.String(255), nullable=False),
        sa.Column("assertion_jti", sa.String(128), nullable=False),
        sa.Column("partner_tier", sa.String(32)),
        sa.Column("common_level", sa.String(32), nullable=False),
        sa.Column("local_tier", sa.String(16)),
        sa.Column("crosswalks", Json, nullable=False),
        sa.Column("at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recognitions"),
    )
    op.create_table(
        "eligibility_decisions",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("jti", sa.String(128), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("programme_id", sa.String(64), nullable=False),
        sa.Column("assertion_jti", sa.String(128), nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_eligibility_decisions"),
        sa.UniqueConstraint("jti", name="uq_eligibility_decisions_jti"),
    )


def downgrade() -> None:
    for name in (
        "eligibility_decisions",
        "recognitions",
        "partner_overrides",
        "crosswalk_heads",
        "crosswalk_versions",
        "status_slots",
        "objections",
    ):
        op.drop_table(name)
    with op.batch_alter_table("disclosures") as batch:
        batch.drop_column("status_idx")
        batch.drop_column("status_list")
