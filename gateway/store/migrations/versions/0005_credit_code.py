"""The credit code (信用码): issued SD-JWT VCs, key-proof nonces, presentation requests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credential_nonces",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_credential_nonces"),
    )
    op.create_index("ix_credential_nonces_expires_at", "credential_nonces", ["expires_at"])
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("vct", sa.String(256), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("score_id", Id, nullable=False),
        sa.Column("with_score", sa.Boolean, nullable=False),
        sa.Column("holder_thumbprint", sa.String(64), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("issued_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("status_list", sa.Integer, nullable=False),
        sa.Column("status_idx", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_credentials_person_id_people"),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
    )
    op.create_index("ix_credentials_person_id", "credentials", ["person_id"])
    op.create_table(
        "presentation_requests",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("verifier", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("claims", Json, nullable=False),
        sa.Column("programme_id", sa.String(128)),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", Json),
        sa.Column("credential_id", sa.String(64)),
        sa.Column("person_id", Id),
        sa.Column("answered_at", Stamp),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_presentation_requests_person_id_people"),
        sa.PrimaryKeyConstraint("id", name="pk_presentation_requests"),
        sa.UniqueConstraint("nonce", name="uq_presentation_requests_nonce"),
    )
    op.create_index("ix_presentation_requests_person_id", "presentation_requests", ["person_id"])


def downgrade() -> None:
    op.drop_table("presentation_requests")
    op.drop_table("credentials")
    op.drop_table("credential_nonces")
