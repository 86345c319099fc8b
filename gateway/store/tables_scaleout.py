"""Tables that let several gateway processes, on several machines, serve every request (issue 12).

Evidence files residents attach to objections used to live under ``<data dir>/evidence/`` on the
disk of the process that took the upload, so an officer whose request reached another process got
404. They are rows now: content-addressed by SHA-256, the bytes in the row (at most
``GATEWAY_EVIDENCE_MAX_BYTES``, 5 MiB by default; BYTEA on PostgreSQL, BLOB on SQLite).
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, String, Table

from gateway.store.tables import Stamp, metadata

__all__ = ["evidence_files", "evidence_owners"]

evidence_files = Table(
    "evidence_files",
    metadata,
    Column("sha256", String(64), primary_key=True),  # lower-case hex of the content
    Column("media_type", String(64), nullable=False),  # read from the bytes when stored
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

# Who may cite a file: content is stored once, but only the residents who uploaded it may attach it
# to an objection. ``owner_tag`` is SHA-256 of "<person's keyed hash>:<file hash>" (32 hex), the same
# tag the files' owner markers carried, so no row here holds the person's key itself.
evidence_owners = Table(
    "evidence_owners",
    metadata,
    Column(
        "sha256",
        String(64),
        ForeignKey("evidence_files.sha256", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("owner_tag", String(32), primary_key=True),
    Column("created_at", Stamp, nullable=False),
)
