"""Initial schema: people, provincial evaluations, information records, scores, audit log, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("name_hash", sa.String(64), nullable=False),
        sa.Column("name_masked", sa.String(64), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
        sa.UniqueConstraint("id_hash", name="uq_people_id_hash"),
    )
    op.create_table(
        "provincial_evaluations",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("evaluated_on", sa.Date, nullable=False),
        sa.Column("edition", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", Stamp, nullable=False),
        sa.Column("status_changed_at", Stamp),
        sa.Column("status_reason", sa.String(256)),
        sa.PrimaryKeyConstraint("id", name="pk_provincial_evaluations"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_provincial_evaluations_person_id_people"),
        sa.UniqueConstraint("unit_id", "source_ref", name="uq_provincial_evaluations_unit_ref"),
    )
    op.create_index("ix_provincial_evaluations_person_id", "provincial_evaluations", ["person_id"])
    op.create_table(
        "information_records",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("item_code", sa.String(48), nullable=False),
        sa.Column("catalogue_version", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.Date, nullable=False),
        sa.Column("value_number", sa.Float),
        sa.Column("value_code", sa.String(48)),
        sa.Column("valid_until", sa.Date),
        sa.Column("attributes", Json, nullable=False),
        sa.Column("received_at", Stamp, nullable=False),
        sa.Column("status_changed_at", Stamp),
        sa.Column("status_reason", sa.String(256)),
        sa.PrimaryKeyConstraint("id", name="pk_information_records"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_information_records_person_id_people"),
        sa.UniqueConstraint("unit_id", "source_ref", name="uq_information_records_unit_ref"),
    )
    op.create_index("ix_information_records_person_id", "information_records", ["person_id"])
    op.create_index("ix_information_records_status_item", "information_records", ["status", "item_code"])
    op.create_table(
        "score_history",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("computed_at", Stamp, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(48)),
        sa.Column("score", sa.Integer),
        sa.Column("tier", sa.String(16)),
        sa.Column("breakdown", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_score_history"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_score_history_person_id_people"),
    )
    op.create_index("ix_score_history_person_id_id", "score_history", ["person_id", "id"])
    op.create_table(
        "current_scores",
        sa.Column("person_id", Id, autoincrement=False),
        sa.Column("score_id", Id, nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(48)),
        sa.Column("score", sa.Integer),
        sa.Column("tier", sa.String(16)),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("computed_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("person_id", name="pk_current_scores"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_current_scores_person_id_people"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("at", Stamp, nullable=False),
        sa.Column("actor_type", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_ref", sa.String(128), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_ref"])
    op.create_table(
        "api_credentials",
        sa.Column("key_id", sa.String(32)),
        sa.Column("principal_type", sa.String(16), nullable=False),
        sa.Column("principal_id", sa.String(64), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("revoked_at", Stamp),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_credentials"),
    )
    # The audit log is append-only for everyone, the gateway included.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for name in (
        "api_credentials",
        "audit_log",
        "current_scores",
        "score_history",
        "information_records",
        "provincial_evaluations",
        "people",
    ):
        op.drop_table(name)
