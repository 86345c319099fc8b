"""Evidence files in the database (issue 12: nothing a request needs lives on one disk).

Files already under ``<data dir>/evidence/`` are copied in by the gateway when it starts
(:func:`gateway.services.rights.evidence.import_evidence_files`): a migration does not know the data
directory.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_files",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_evidence_files"),
    )
    op.create_table(
        "evidence_owners",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("owner_tag", sa.String(32), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["evidence_files.sha256"],
            name="fk_evidence_owners_sha256_evidence_files",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sha256", "owner_tag", name="pk_evidence_owners"),
    )


def downgrade() -> None:
    op.drop_table("evidence_owners")
    op.drop_table("evidence_files")
