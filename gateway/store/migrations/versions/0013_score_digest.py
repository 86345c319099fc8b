"""A digest of each current score's result (issue 12: a full recompute writes only what changed).

``current_scores.digest`` identifies the stored result (eligibility, reason, score, tier, model
version and the whole breakdown). A recompute compares the new result's digest with it and appends a
history row only when they differ; NULL (rows written before this migration) counts as changed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("current_scores", sa.Column("digest", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("current_scores") as batch:
        batch.drop_column("digest")
