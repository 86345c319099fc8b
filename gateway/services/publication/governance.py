"""Governed documents — incentive programmes, the scoring model, the information catalogue — kept
and changed exactly as crosswalks are (``gateway.services.admin.mapping_admin``).

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
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from gateway.clock import utcnow
from gateway.errors import DocumentRejected
from gateway.services.admin.preconditions import (
    PreconditionFailed,
    PreconditionRequired,
    check_if_match,
    check_if_none_match,
    etag,
    require_reason,
)
from gateway.services.publication.governed_store import (
    Checked,
    DocumentNotFound,
    Head,
    Kind,
    NotADraft,
    NothingToRollBack,
    Version,
    history,
    list_documents,
    one_version,
    published_documents,
    read_head,
    read_heads,
    read_versions,
    render_view,
    show_document,
    show_version,
)
from gateway.store.audit import append_audit
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.tables_publication import governed_heads, governed_versions

__all__ = [
    "Checked",
    "DocumentNotFound",
    "Kind",
    "NotADraft",
    "NothingToRollBack",
    "Version",
    "create_draft",
    "history",
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


# --- changing ----------------------------------------------------------------------------------


def seed(engine: Engine, kind: Kind, doc_id: str, document: Mapping[str, Any], *, actor: str, reason: str) -> bool:
    """Seed ``document`` as the published version 1 of a document the database does not know yet.

    Idempotent and safe when several processes start at once (both inserts ignore a row another
    process wrote first). True when this call seeded it.
    """
    with engine.begin() as conn:
        if read_heads(conn, kind.name, doc_id):
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
        heads = read_heads(conn, kind.name, doc_id)
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
        new_head = read_head(conn, kind.name, doc_id, None)
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
        head = read_head(conn, kind.name, doc_id, owner)
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
        view = render_view(
            kind.name, read_head(conn, kind.name, doc_id, None), read_versions(conn, kind.name, doc_id), document=True
        )
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
        head = read_head(conn, kind.name, doc_id, owner)
        check_if_match(if_match, head.row_version, published_version=head.published_version)
        versions = read_versions(conn, kind.name, doc_id)
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
        view = render_view(
            kind.name, read_head(conn, kind.name, doc_id, None), read_versions(conn, kind.name, doc_id), document=True
        )
    return view
