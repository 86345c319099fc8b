"""Published documents (append-only, pinned by digest) and governed documents (programmes, the
scoring model, the information catalogue) with their heads.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "published_documents",
        sa.Column("name", sa.String(128)),
        sa.Column("version", sa.Integer, autoincrement=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("content_digest", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("published_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_published_documents"),
        sa.UniqueConstraint("name", "digest", name="uq_published_documents_name_digest"),
        sa.UniqueConstraint("name", "content_digest", name="uq_published_documents_name_content"),
    )
    op.create_table(
        "governed_versions",
        sa.Column("kind", sa.String(16)),
        sa.Column("doc_id", sa.String(64)),
        sa.Column("version", sa.Integer, autoincrement=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("document", Json, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("effective_from", sa.Date),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("published_by", sa.String(64)),
        sa.Column("published_at", Stamp),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("kind", "doc_id", "version", name="pk_governed_versions"),
    )
    op.create_table(
        "governed_heads",
        sa.Column("kind", sa.String(16)),
        sa.Column("doc_id", sa.String(64)),
        sa.Column("owner", sa.String(64)),
        sa.Column("published_version", sa.Integer),
        sa.Column("row_version", sa.Integer, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("kind", "doc_id", name="pk_governed_heads"),
    )


def downgrade() -> None:
    op.drop_table("governed_heads")
    op.drop_table("governed_versions")
    op.drop_table("published_documents")
