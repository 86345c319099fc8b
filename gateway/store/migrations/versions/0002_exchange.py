"""Exchange: signing keys, client-assertion replay cache, consents, disclosure log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64)),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("public_jwk", Json, nullable=False),
        sa.Column("key_file", sa.String(255), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("activated_at", Stamp),
        sa.Column("retired_at", Stamp),
        sa.Column("publish_until", Stamp),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_table(
        "client_assertion_jtis",
        sa.Column("client_id", sa.String(64)),
        sa.Column("jti", sa.String(256)),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_client_assertion_jtis"),
    )
    op.create_index("ix_client_assertion_jtis_expires_at", "client_assertion_jtis", ["expires_at"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(64)),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("purposes", Json, nullable=False),
        sa.Column("disclosure", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("revoked_at", Stamp),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_consents_person_id_people"),
    )
    op.create_index("ix_consents_person_id", "consents", ["person_id"])
    op.create_table(
        "disclosures",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("person_key", sa.String(64), nullable=False),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("disclosure", sa.String(8), nullable=False),
        sa.Column("consent_id", sa.String(64), nullable=False),
        sa.Column("jti", sa.String(128), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("score_id", Id, nullable=False),
        sa.Column("issued_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_disclosures"),
        sa.UniqueConstraint("jti", name="uq_disclosures_jti"),
    )
    op.create_index("ix_disclosures_person_key", "disclosures", ["person_key"])
    op.create_index("ix_disclosures_consent_id", "disclosures", ["consent_id"])


def downgrade() -> None:
    for name in ("disclosures", "consents", "client_assertion_jtis", "signing_keys"):
        op.drop_table(name)
