"""Tables of published documents and of the documents governed like crosswalks (issue 16).

``published_documents`` keeps every version of every public document the gateway has ever served
(append-only: a version's body never changes, so a partner can pin it by digest).
``governed_versions`` / ``governed_heads`` hold the administered documents — incentive programmes,
the scoring model, the information catalogue — exactly as ``crosswalk_versions`` / ``crosswalk_heads``
hold crosswalks: every version drafted, its content hash and state, and per document the version
in force plus the optimistic-concurrency counter sent back as an ETag.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Integer, String, Table, Text, UniqueConstraint

from gateway.store.tables import Json, Stamp, metadata

__all__ = ["governed_heads", "governed_versions", "published_documents"]

published_documents = Table(
    "published_documents",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(80), nullable=False),  # sha256 of the exact bytes served
    Column("content_digest", String(80), nullable=False),  # of the content alone (what decides a new version)
    Column("body", Text, nullable=False),
    Column("published_at", Stamp, nullable=False),
    UniqueConstraint("name", "digest", name="uq_published_documents_name_digest"),
    UniqueConstraint("name", "content_digest", name="uq_published_documents_name_content"),
)

governed_versions = Table(
    "governed_versions",
    metadata,
    Column("kind", String(16), primary_key=True),  # programme | model | catalogue
    Column("doc_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(64)),
    Column("state", String(16), nullable=False),  # draft | published | retired
    Column("document", Json, nullable=False),
    Column("digest", String(80), nullable=False),
    Column("effective_from", Date),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("published_by", String(64)),
    Column("published_at", Stamp),
    Column("reason", Text),
)

governed_heads = Table(
    "governed_heads",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("doc_id", String(64), primary_key=True),
    Column("owner", String(64)),
    Column("published_version", Integer),
    Column("row_version", Integer, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)
