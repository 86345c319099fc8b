"""Governed documents as stored (``governed_versions`` / ``governed_heads``): the records, the
reads, and the problems they answer with. The changes are in :mod:`.governance`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from gateway.errors import Conflict, NotFound
from gateway.services.admin.preconditions import etag
from gateway.services.recognition.crosswalks import aware
from gateway.store.engine import reader
from gateway.store.tables_publication import governed_heads, governed_versions

__all__ = [
    "Checked",
    "DocumentNotFound",
    "Head",
    "Kind",
    "NotADraft",
    "NothingToRollBack",
    "Version",
    "history",
    "list_documents",
    "one_version",
    "published_documents",
    "read_head",
    "read_heads",
    "read_versions",
    "render_view",
    "show_document",
    "show_version",
]


class NotADraft(Conflict):
    code = "not_a_draft"  # the same problem as for a crosswalk (gateway.services.admin.mapping_admin)
    title = "Only a draft version can be published"


class NothingToRollBack(Conflict):
    code = "no_earlier_version"
    title = "The document has no earlier published version"


class DocumentNotFound(NotFound):
    code = "document_not_found"
    title = "No such document or document version"


@dataclass(frozen=True, slots=True)
class Checked:
    """What a kind's check returns about a valid document."""

    document: Mapping[str, Any]  # as stored (a kind may number it)
    digest: str
    effective_from: date | None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # programme | model | catalogue: the governed_* key and the audit target type
    # Validate a document for version ``number`` (the kind may write the number into it).
    check: Callable[[Mapping[str, Any], int], Checked]
    # True when the document carries the server's version number (programmes); the model and the
    # catalogue carry their own version string, which the office chooses.
    numbered: bool = False


@dataclass(frozen=True, slots=True)
class Head:
    doc_id: str
    owner: str | None
    published_version: int | None
    row_version: int


@dataclass(frozen=True, slots=True)
class Version:
    doc_id: str
    version: int
    owner: str | None
    state: str
    document: Mapping[str, Any]
    digest: str
    effective_from: date | None
    created_by: str
    published_at: Any
    meta: Mapping[str, Any]


def _version(r: Any) -> Version:
    published_at = aware(r.published_at) if r.published_at is not None else None
    meta = {
        "version": r.version,
        "state": r.state,
        "digest": r.digest,
        "effective_from": r.effective_from.isoformat() if r.effective_from else None,
        "created_by": r.created_by,
        "created_at": aware(r.created_at).isoformat(),
        "published_by": r.published_by,
        "published_at": published_at.isoformat() if published_at else None,
        "reason": r.reason,
    }
    return Version(
        r.doc_id, r.version, r.owner, r.state, r.document, r.digest, r.effective_from, r.created_by, published_at, meta
    )


def read_heads(conn: Connection, kind: str, doc_id: str | None = None, owner: str | None = None) -> list[Head]:
    h = governed_heads
    stmt = select(h.c.doc_id, h.c.owner, h.c.published_version, h.c.row_version).where(h.c.kind == kind)
    if doc_id is not None:
        stmt = stmt.where(h.c.doc_id == doc_id)
    if owner is not None:
        stmt = stmt.where(h.c.owner == owner)
    return [Head(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt.order_by(h.c.doc_id))]


def read_versions(conn: Connection, kind: str, doc_id: str | None = None, version: int | None = None) -> list[Version]:
    v = governed_versions
    stmt = select(v).where(v.c.kind == kind).order_by(v.c.doc_id, v.c.version)
    if doc_id is not None:
        stmt = stmt.where(v.c.doc_id == doc_id)
    if version is not None:
        stmt = stmt.where(v.c.version == version)
    return [_version(r) for r in conn.execute(stmt)]


def read_head(conn: Connection, kind: str, doc_id: str, owner: str | None) -> Head:
    heads = read_heads(conn, kind, doc_id, owner)
    if not heads:
        # The same answer for "does not exist" and "belongs to someone else".
        raise DocumentNotFound(f"There is no {kind} {doc_id}.")
    return heads[0]


def one_version(conn: Connection, kind: str, doc_id: str, version: int) -> Version:
    rows = read_versions(conn, kind, doc_id, version)
    if not rows:
        raise DocumentNotFound(f"The {kind} {doc_id} has no version {version}.")
    return rows[0]


def render_view(kind: str, head: Head, versions: list[Version], *, document: bool) -> dict[str, Any]:
    published = next((v for v in versions if v.version == head.published_version), None)
    out: dict[str, Any] = {
        "kind": kind,
        "id": head.doc_id,
        "owner": head.owner,
        "published_version": head.published_version,
        "published_digest": published.digest if published else None,
        "drafts": [v.version for v in versions if v.state == "draft"],
        "etag": etag(head.row_version),
    }
    if document:
        out["document"] = dict(published.document) if published else None
        out["history"] = [dict(v.meta) for v in reversed(versions)]
    return out


# --- reading -----------------------------------------------------------------------------------


def list_documents(engine: Engine, kind: str, *, owner: str | None = None) -> list[dict[str, Any]]:
    with reader(engine).connect() as conn:
        heads = read_heads(conn, kind, owner=owner)
        by_id: dict[str, list[Version]] = {}
        for row in read_versions(conn, kind):
            by_id.setdefault(row.doc_id, []).append(row)
        conn.rollback()
    return [render_view(kind, head, by_id.get(head.doc_id, []), document=False) for head in heads]


def show_document(engine: Engine, kind: str, doc_id: str, *, owner: str | None = None) -> dict[str, Any]:
    with reader(engine).connect() as conn:
        head = read_head(conn, kind, doc_id, owner)
        versions = read_versions(conn, kind, doc_id)
        conn.rollback()
    return render_view(kind, head, versions, document=True)


def show_version(engine: Engine, kind: str, doc_id: str, version: int, *, owner: str | None = None) -> dict[str, Any]:
    with reader(engine).connect() as conn:
        read_head(conn, kind, doc_id, owner)
        row = one_version(conn, kind, doc_id, version)
        conn.rollback()
    return {"id": doc_id, **row.meta, "document": dict(row.document)}


def published_documents(conn: Connection, kind: str) -> list[Version]:
    """The versions in force of every document of ``kind``, in one statement."""
    h, v = governed_heads, governed_versions
    rows = conn.execute(
        select(v)
        .join(h, and_(h.c.kind == v.c.kind, h.c.doc_id == v.c.doc_id, h.c.published_version == v.c.version))
        .where(v.c.kind == kind)
        .order_by(v.c.doc_id)
    ).all()
    return [_version(r) for r in rows]


def history(conn: Connection, kind: str, doc_id: str) -> list[Version]:
    return read_versions(conn, kind, doc_id)
