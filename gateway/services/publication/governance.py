"""Governed documents — incentive programmes, the scoring model, the information catalogue — kept
and changed exactly as crosswalks are (``gateway.services.mapping_admin``).

Every version ever drafted stays in ``governed_versions`` with its document and content hash; only
its state moves (draft → published → retired). A rollback publishes the previous published content
again as a new version, so the version in force only ever grows. Each change names the document's
ETag (``If-Match``; 412 when another change came first, 428 when missing), carries a reason, bumps
the head's ``row_version`` with a conditional UPDATE in the same transaction, and writes one audit
row (who, before and after with digests, the reason). What differs per kind — how a document is
checked, who owns it — is a :class:`Kind`.

Ownership (programmes): a head may name an ``owner`` partner. A caller scoped to an owner sees and
changes only that owner's documents; any other document answers 404 exactly as a missing one does,
so a partner cannot learn which programmes its competitors are drafting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from gateway.clock import utcnow
from gateway.errors import Conflict, DocumentRejected, NotFound
from gateway.services.crosswalks import aware
from gateway.services.preconditions import (
    PreconditionFailed,
    PreconditionRequired,
    check_if_match,
    check_if_none_match,
    etag,
    require_reason,
)
from gateway.store.audit import append_audit
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.engine import reader
from gateway.store.tables_publication import governed_heads, governed_versions

__all__ = [
    "Checked",
    "DocumentNotFound",
    "Kind",
    "NotADraft",
    "NothingToRollBack",
    "Version",
    "create_draft",
    "list_documents",
    "one_version",
    "publish",
    "published_documents",
    "rollback",
    "seed",
    "show_document",
    "show_version",
]

log = logging.getLogger(__name__)


class NotADraft(Conflict):
    code = "not_a_draft"  # the same problem as for a crosswalk (gateway.services.mapping_admin)
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


def _heads(conn: Connection, kind: str, doc_id: str | None = None, owner: str | None = None) -> list[Head]:
    h = governed_heads
    stmt = select(h.c.doc_id, h.c.owner, h.c.published_version, h.c.row_version).where(h.c.kind == kind)
    if doc_id is not None:
        stmt = stmt.where(h.c.doc_id == doc_id)
    if owner is not None:
        stmt = stmt.where(h.c.owner == owner)
    return [Head(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt.order_by(h.c.doc_id))]


def _versions(conn: Connection, kind: str, doc_id: str | None = None, version: int | None = None) -> list[Version]:
    v = governed_versions
    stmt = select(v).where(v.c.kind == kind).order_by(v.c.doc_id, v.c.version)
    if doc_id is not None:
        stmt = stmt.where(v.c.doc_id == doc_id)
    if version is not None:
        stmt = stmt.where(v.c.version == version)
    return [_version(r) for r in conn.execute(stmt)]


def _head(conn: Connection, kind: str, doc_id: str, owner: str | None) -> Head:
    heads = _heads(conn, kind, doc_id, owner)
    if not heads:
        # The same answer for "does not exist" and "belongs to someone else".
        raise DocumentNotFound(f"There is no {kind} {doc_id}.")
    return heads[0]


def one_version(conn: Connection, kind: str, doc_id: str, version: int) -> Version:
    rows = _versions(conn, kind, doc_id, version)
    if not rows:
        raise DocumentNotFound(f"The {kind} {doc_id} has no version {version}.")
    return rows[0]


def _view(kind: str, head: Head, versions: list[Version], *, document: bool) -> dict[str, Any]:
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


def _bump(conn: Connection, kind: str, head: Head, **values: Any) -> None:
    h = governed_heads
    done = conn.execute(
        update(h)
        .where(h.c.kind == kind, h.c.doc_id == head.doc_id, h.c.row_version == head.row_version)
        .values(row_version=head.row_version + 1, updated_at=utcnow(), **values)
        .returning(h.c.row_version)
    ).first()
    if done is None:
        raise PreconditionFailed(f"Another change to this {kind} committed first; re-read it and retry.")


def _audit(conn: Connection, actor: tuple[str, str], action: str, kind: str, doc_id: str, details: Any) -> None:
    append_audit(
        conn,
        actor_type=actor[0],
        actor_id=actor[1],
        action=f"{kind}.{action}",
        target_type=kind,
        target_ref=doc_id,
        details=details,
    )


def _state(v: Version | None) -> dict[str, Any] | None:
    return {"version": v.version, "digest": v.digest} if v else None


# --- reading -----------------------------------------------------------------------------------


def list_documents(engine: Engine, kind: str, *, owner: str | None = None) -> list[dict[str, Any]]:
    with reader(engine).connect() as conn:
        heads = _heads(conn, kind, owner=owner)
        by_id: dict[str, list[Version]] = {}
        for row in _versions(conn, kind):
            by_id.setdefault(row.doc_id, []).append(row)
        conn.rollback()
    return [_view(kind, head, by_id.get(head.doc_id, []), document=False) for head in heads]


def show_document(engine: Engine, kind: str, doc_id: str, *, owner: str | None = None) -> dict[str, Any]:
    with reader(engine).connect() as conn:
        head = _head(conn, kind, doc_id, owner)
        versions = _versions(conn, kind, doc_id)
        conn.rollback()
    return _view(kind, head, versions, document=True)


def show_version(engine: Engine, kind: str, doc_id: str, version: int, *, owner: str | None = None) -> dict[str, Any]:
    with reader(engine).connect() as conn:
        _head(conn, kind, doc_id, owner)
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
    return _versions(conn, kind, doc_id)


# --- changing ----------------------------------------------------------------------------------


def seed(engine: Engine, kind: Kind, doc_id: str, document: Mapping[str, Any], *, actor: str, reason: str) -> bool:
    """Seed ``document`` as the published version 1 of a document the database does not know yet.

    Idempotent and safe when several processes start at once (both inserts ignore a row another
    process wrote first). True when this call seeded it.
    """
    with engine.begin() as conn:
        if _heads(conn, kind.name, doc_id):
            return False
        given = document.get("version")
        number = given if kind.numbered and isinstance(given, int) and given >= 1 else 1
        checked = kind.check(document, number)
        now = utcnow()
        conn.execute(
            insert_ignoring_conflicts(conn, governed_versions, ["kind", "doc_id", "version"]).values(
                kind=kind.name,
                doc_id=doc_id,
                version=number,
                owner=checked.owner,
                state="published",
                document=dict(checked.document),
                digest=checked.digest,
                effective_from=checked.effective_from,
                created_by=actor,
                created_at=now,
                published_by=actor,
                published_at=now,
                reason=reason,
            )
        )
        done = conn.execute(
            insert_ignoring_conflicts(conn, governed_heads, ["kind", "doc_id"])
            .values(
                kind=kind.name,
                doc_id=doc_id,
                owner=checked.owner,
                published_version=number,
                row_version=1,
                updated_at=now,
            )
            .returning(governed_heads.c.doc_id)
        ).first()
    return done is not None


def create_draft(
    engine: Engine,
    kind: Kind,
    actor: tuple[str, str],
    doc_id: str,
    document: Mapping[str, Any],
    *,
    reason: str,
    if_match: str | None,
    if_none_match: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Store ``document`` as the next version, a draft (``If-None-Match: *`` creates a new document).

    ``owner`` scopes the caller: it may only touch its own documents, and a new one must name it.
    """
    why = require_reason(reason)
    v = governed_versions
    with engine.begin() as conn:
        heads = _heads(conn, kind.name, doc_id)
        head = heads[0] if heads else None
        if head is not None and owner is not None and head.owner != owner:
            raise DocumentNotFound(f"There is no {kind.name} {doc_id}.")
        if head is None:
            if not check_if_none_match(if_none_match):
                if if_match:
                    raise PreconditionFailed(f"There is no {kind.name} {doc_id}; create it with If-None-Match: *.")
                raise PreconditionRequired(f"Create {kind.name} {doc_id} with If-None-Match: *.")
            number = 1
        else:
            if check_if_none_match(if_none_match):
                raise PreconditionFailed(f"The {kind.name} exists already.", current_etag=etag(head.row_version))
            check_if_match(if_match, head.row_version, published_version=head.published_version)
            latest = conn.execute(
                select(func.max(v.c.version)).where(v.c.kind == kind.name, v.c.doc_id == doc_id)
            ).scalar_one()
            number = int(latest) + 1
        checked = kind.check(document, number)
        if owner is not None and checked.owner != owner:
            raise DocumentRejected(f"A {kind.name} drafted by its owner must name that owner.")
        if head is None:
            created = conn.execute(
                insert_ignoring_conflicts(conn, governed_heads, ["kind", "doc_id"])
                .values(kind=kind.name, doc_id=doc_id, owner=checked.owner, row_version=1, updated_at=utcnow())
                .returning(governed_heads.c.doc_id)
            ).first()
            if created is None:
                raise PreconditionFailed(f"Another change created this {kind.name} first.")
        else:
            if checked.owner != head.owner:
                raise DocumentNotFound(f"There is no {kind.name} {doc_id} of this owner.")
            _bump(conn, kind.name, head)
        conn.execute(
            insert(v).values(
                kind=kind.name,
                doc_id=doc_id,
                version=number,
                owner=checked.owner,
                state="draft",
                document=dict(checked.document),
                digest=checked.digest,
                effective_from=checked.effective_from,
                created_by=actor[1],
                created_at=utcnow(),
                reason=why,
            )
        )
        before = {"published_version": head.published_version if head else None}
        after = {"draft_version": number, "digest": checked.digest}
        _audit(conn, actor, "draft", kind.name, doc_id, {"before": before, "after": after, "reason": why})
        new_head = _head(conn, kind.name, doc_id, None)
        row = one_version(conn, kind.name, doc_id, number)
    return {"id": doc_id, **row.meta, "etag": etag(new_head.row_version)}


def publish(
    engine: Engine,
    kind: Kind,
    actor: tuple[str, str],
    doc_id: str,
    version: int,
    *,
    reason: str,
    if_match: str | None,
    owner: str | None = None,
    effective_from: date | None = None,
) -> dict[str, Any]:
    """Put a draft in force; the version in force before is retired."""
    why = require_reason(reason)
    v = governed_versions
    with engine.begin() as conn:
        head = _head(conn, kind.name, doc_id, owner)
        check_if_match(if_match, head.row_version, published_version=head.published_version)
        draft = one_version(conn, kind.name, doc_id, version)
        if draft.state != "draft":
            raise NotADraft(f"Version {version} is {draft.state}.", state=draft.state)
        kind.check(draft.document, version)  # still valid against what is in force now
        before = one_version(conn, kind.name, doc_id, head.published_version) if head.published_version else None
        _bump(conn, kind.name, head, published_version=version)
        mine = and_(v.c.kind == kind.name, v.c.doc_id == doc_id)
        conn.execute(update(v).where(mine, v.c.state == "published").values(state="retired"))
        values: dict[str, Any] = {"state": "published", "published_by": actor[1], "published_at": utcnow()}
        if effective_from is not None:
            values["effective_from"] = effective_from
        conn.execute(update(v).where(mine, v.c.version == version).values(**values))
        details = {"before": _state(before), "after": _state(draft), "reason": why}
        if effective_from is not None:
            details["effective_from"] = effective_from.isoformat()
        _audit(conn, actor, "publish", kind.name, doc_id, details)
        view = _view(kind.name, _head(conn, kind.name, doc_id, None), _versions(conn, kind.name, doc_id), document=True)
    return view


def rollback(
    engine: Engine,
    kind: Kind,
    actor: tuple[str, str],
    doc_id: str,
    *,
    reason: str,
    if_match: str | None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Publish again the content of the version published before the current one, as a new version."""
    why = require_reason(reason)
    v = governed_versions
    with engine.begin() as conn:
        head = _head(conn, kind.name, doc_id, owner)
        check_if_match(if_match, head.row_version, published_version=head.published_version)
        versions = _versions(conn, kind.name, doc_id)
        current = next((r for r in versions if r.version == head.published_version), None)
        earlier = sorted(
            (r for r in versions if r.published_at is not None and r.version != head.published_version),
            key=lambda r: (r.published_at, r.version),
        )
        if current is None or not earlier:
            raise NothingToRollBack("No earlier published version to return to.")
        previous = earlier[-1]
        number = max(r.version for r in versions) + 1
        checked = kind.check(previous.document, number)
        _bump(conn, kind.name, head, published_version=number)
        now = utcnow()
        mine = and_(v.c.kind == kind.name, v.c.doc_id == doc_id)
        conn.execute(update(v).where(mine, v.c.state == "published").values(state="retired"))
        conn.execute(
            insert(v).values(
                kind=kind.name,
                doc_id=doc_id,
                version=number,
                owner=checked.owner,
                state="published",
                document=dict(checked.document),
                digest=checked.digest,
                effective_from=previous.effective_from,
                created_by=actor[1],
                created_at=now,
                published_by=actor[1],
                published_at=now,
                reason=f"Rollback to the content of version {previous.version}: {why}",
            )
        )
        after = {"version": number, "digest": checked.digest, "restored_from": previous.version}
        _audit(conn, actor, "rollback", kind.name, doc_id, {"before": _state(current), "after": after, "reason": why})
        view = _view(kind.name, _head(conn, kind.name, doc_id, None), _versions(conn, kind.name, doc_id), document=True)
    return view
