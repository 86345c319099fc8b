"""Shared fill counters of the token status lists (issue 15, defect 10).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_list_fill",
        sa.Column("list_id", sa.Integer, autoincrement=False),
        sa.Column("stripe", sa.Integer, autoincrement=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("list_id", "stripe", name="pk_status_list_fill"),
    )
    # Slots taken before the counters existed count in stripe 0 (which may then be over its cap:
    # it only takes new places once purges bring it down).
    op.execute(
        "INSERT INTO status_list_fill (list_id, stripe, used) "
        "SELECT list_id, 0, COUNT(*) FROM status_slots GROUP BY list_id"
    )


def downgrade() -> None:
    op.drop_table("status_list_fill")
