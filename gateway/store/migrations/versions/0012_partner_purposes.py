"""A partner's allowed purposes can be changed by a partner administrator (issue 11: the console's
partners page), as an override over the partner file like enable/disable and keys.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("partner_overrides") as batch:
        batch.add_column(sa.Column("allowed_purposes", Json))


def downgrade() -> None:
    with op.batch_alter_table("partner_overrides") as batch:
        batch.drop_column("allowed_purposes")
