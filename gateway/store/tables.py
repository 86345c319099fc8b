"""The database schema as SQLAlchemy Core tables.

Core, not the ORM: the hot paths (ingestion, recompute, issuance) run bulk statements and
primary-key selects, where a Session would cost several times more per call. Alembic migrations
under ``migrations/`` create exactly these tables; a test compares the two.

No column holds a raw ID number or name: people are keyed by ``id_hash`` (HMAC-SHA-256 under the
pepper) and names survive only as ``name_hash`` and the masked ``name_masked``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "api_credentials",
    "audit_log",
    "client_assertion_jtis",
    "consents",
    "crosswalk_heads",
    "crosswalk_versions",
    "current_scores",
    "disclosures",
    "eligibility_decisions",
    "information_records",
    "metadata",
    "objections",
    "partner_overrides",
    "people",
    "provincial_evaluations",
    "recognitions",
    "score_history",
    "signing_keys",
    "status_slots",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit identities.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
Stamp = DateTime(timezone=True)

people = Table(
    "people",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("id_hash", String(64), nullable=False, unique=True),
    Column("name_hash", String(64), nullable=False),
    Column("name_masked", String(64), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

provincial_evaluations = Table(
    "provincial_evaluations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("unit_id", String(64), nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("score", Integer, nullable=False),
    Column("evaluated_on", Date, nullable=False),
    Column("edition", String(32)),
    Column("status", String(16), nullable=False),
    Column("received_at", Stamp, nullable=False),
    Column("status_changed_at", Stamp),
    Column("status_reason", String(256)),
    UniqueConstraint("unit_id", "source_ref", name="uq_provincial_evaluations_unit_ref"),
)

information_records = Table(
    "information_records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("unit_id", String(64), nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("item_code", String(48), nullable=False),
    Column("catalogue_version", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_at", Date, nullable=False),
    # The catalogue-mapped values the scoring core reads, so that recompute never parses JSON.
    Column("value_number", Float),
    Column("value_code", String(48)),
    Column("valid_until", Date),
    Column("attributes", Json, nullable=False),
    Column("received_at", Stamp, nullable=False),
    Column("status_changed_at", Stamp),
    Column("status_reason", String(256)),
    UniqueConstraint("unit_id", "source_ref", name="uq_information_records_unit_ref"),
)
Index("ix_information_records_status_item", information_records.c.status, information_records.c.item_code)

score_history = Table(
    "score_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("computed_at", Stamp, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("reason", String(48)),
    Column("score", Integer),
    Column("tier", String(16)),
    Column("breakdown", Json, nullable=False),
)
Index("ix_score_history_person_id_id", score_history.c.person_id, score_history.c.id)

# The latest computation per person, kept beside the history so that issuance is one PK select.
current_scores = Table(
    "current_scores",
    metadata,
    Column("person_id", Id, ForeignKey("people.id"), primary_key=True, autoincrement=False),
    Column("score_id", Id, nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("reason", String(48)),
    Column("score", Integer),
    Column("tier", String(16)),
    Column("model_version", String(32), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("computed_at", Stamp, nullable=False),
    # Identifies the stored result, so that a recompute rewrites only what changed (issue 12, 0013).
    Column("digest", String(32)),
)

# Append-only: migrations add triggers on both databases that refuse UPDATE and DELETE.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Stamp, nullable=False),
    Column("actor_type", String(32), nullable=False),
    Column("actor_id", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_ref", String(128), nullable=False),
    Column("details", Json, nullable=False),
    # issue 13: the hash chain (NULL on rows written before migration 0007).
    Column("chain", String(32)),
    Column("seq", Id),
    Column("prev_hash", String(64)),
    Column("row_hash", String(64)),
)
Index("ix_audit_log_target", audit_log.c.target_type, audit_log.c.target_ref)
Index("ux_audit_log_chain_seq", audit_log.c.chain, audit_log.c.seq, unique=True)  # issue 13

# Per-principal API keys: the collaborating units' and officers' credential until the partner
# registry's signed client assertions replace them. Only a SHA-256 of the secret is kept.
api_credentials = Table(
    "api_credentials",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("principal_type", String(16), nullable=False),
    Column("principal_id", String(64), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("revoked_at", Stamp),
    Column("note", Text),
)

# --- exchange: signing keys, client-assertion replay cache, consents, disclosure log ----------

# The gateway's own signing keys. The private key stays in a 0600 PEM file named by key_file; the
# row holds its public JWK and its life cycle, shared by every process: next (published, not
# signing) → active (signing) → retired (published until publish_until, then dropped).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("public_jwk", Json, nullable=False),
    Column("key_file", String(255), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("activated_at", Stamp),
    Column("retired_at", Stamp),
    Column("publish_until", Stamp),
)

# RFC 7523 jti replay cache: the primary key makes "seen before" atomic across processes.
client_assertion_jtis = Table(
    "client_assertion_jtis",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Stamp, nullable=False),
)
Index("ix_client_assertion_jtis_expires_at", client_assertion_jtis.c.expires_at)

consents = Table(
    "consents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("audience", String(64), nullable=False),
    Column("purposes", Json, nullable=False),
    Column("disclosure", String(8), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("revoked_at", Stamp),
)

# Every assertion issued about a person: to whom, for what, at which level, under which consent.
disclosures = Table(
    "disclosures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_key", String(64), nullable=False, index=True),
    Column("audience", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("disclosure", String(8), nullable=False),
    Column("consent_id", String(64), nullable=False, index=True),
    Column("jti", String(128), nullable=False, unique=True),
    Column("kid", String(64), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("score_id", Id, nullable=False),
    Column("issued_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("status_list", Integer),
    Column("status_idx", Integer),
)

# --- residents' rights: objections (异议), evidence, token status lists -------------------------

objections = Table(
    "objections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("target_type", String(16), nullable=False),  # score | record
    Column("target_ref", String(64), nullable=False),  # score id, or r:<id> / p:<id>
    Column("statement", Text, nullable=False),
    Column("evidence", Json, nullable=False),  # [{sha256, media_type, size}]; files live outside the rows
    Column("state", String(16), nullable=False),  # submitted → under_review → upheld | rejected
    Column("deadline", Stamp, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    Column("officer_id", String(64)),
    Column("answer", Text),
    Column("row_version", Integer, nullable=False),
)
Index("ix_objections_state_deadline", objections.c.state, objections.c.deadline)

# Status list slots (draft-ietf-oauth-status-list): one row per index handed out. Indexes are drawn at
# random within large lists; a row is deleted only after its token expired, so no live index repeats.
status_slots = Table(
    "status_slots",
    metadata,
    Column("list_id", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("jti", String(128), nullable=False, unique=True),
    Column("status", Integer, nullable=False),  # 0 valid, 1 invalid (revoked), 2 suspended, 3 superseded
    Column("expires_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)
Index("ix_status_slots_expires_at", status_slots.c.expires_at)

# --- cross-city recognition: crosswalk versions, partner administration, decisions ---------------

crosswalk_versions = Table(
    "crosswalk_versions",
    metadata,
    Column("crosswalk_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("local_scheme", String(64), nullable=False),
    Column("common_scheme", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # draft | published | retired
    Column("document", Json, nullable=False),
    Column("digest", String(80), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("published_by", String(64)),
    Column("published_at", Stamp),
    Column("reason", Text),
)

# One row per crosswalk: which version is in force, and a counter for optimistic concurrency
# (the ETag administrators send back in If-Match).
crosswalk_heads = Table(
    "crosswalk_heads",
    metadata,
    Column("crosswalk_id", String(64), primary_key=True),
    Column("local_scheme", String(64), nullable=False, unique=True),
    Column("published_version", Integer),
    Column("row_version", Integer, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

# Administrators' changes to partners (enable, disable, new keys, allowed purposes) override the files in partners/,
# shared by every process.
partner_overrides = Table(
    "partner_overrides",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("enabled", Boolean),
    Column("jwks", Json),
    Column("allowed_purposes", Json),  # a sorted list; NULL leaves the file's list in force
    Column("row_version", Integer, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

recognitions = Table(
    "recognitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("caller", String(64), nullable=False),
    Column("assertion_issuer", String(255), nullable=False),
    Column("assertion_jti", String(128), nullable=False),
    Column("partner_tier", String(32)),
    Column("common_level", String(32), nullable=False),
    Column("local_tier", String(16)),
    Column("crosswalks", Json, nullable=False),
    Column("at", Stamp, nullable=False),
)

eligibility_decisions = Table(
    "eligibility_decisions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("jti", String(128), nullable=False, unique=True),
    Column("caller", String(64), nullable=False),
    Column("programme_id", String(64), nullable=False),
    Column("assertion_jti", String(128), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("level", String(32), nullable=False),
    Column("at", Stamp, nullable=False),
)
from gateway.store import tables_credential as _tables_credential  # noqa: E402,F401
from gateway.store import tables_hardening as _tables_hardening  # noqa: E402,F401
from gateway.store import tables_operations as _tables_operations  # noqa: E402,F401  (issue 13)
from gateway.store import tables_publication as _tables_publication  # noqa: E402,F401  (issue 16)
from gateway.store import tables_residents as _tables_residents  # noqa: E402,F401
from gateway.store import tables_rights as _tables_rights  # noqa: E402,F401
from gateway.store import tables_scaleout as _tables_scaleout  # noqa: E402,F401
from gateway.store import tables_web as _tables_web  # noqa: E402,F401  (issue 11: web sessions)
