"""Administrators' work on crosswalks: list, show, draft, validate, publish, roll back (the impact
preview and proposals from data, which change nothing, are in ``crosswalk_analysis``).

Every version ever drafted stays in ``crosswalk_versions`` with its document and content hash;
only its state moves (draft → published → retired). A rollback does not rewrite history: it
publishes the previous published content again as a new version, so the version in force only
ever grows and an assertion naming a version names one exact document.

Each change sends the crosswalk's ETag (``If-Match``) and is refused with 412 when another change
came first; the head's ``row_version`` is bumped by a conditional UPDATE in the same transaction
as the change, so two administrators cannot both win. Every change writes one audit row: who,
the version and digest before and after, and the reason given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gateway.clock import utcnow
from gateway.errors import Conflict
from gateway.exchange.tiers import InvalidMapping
from gateway.services.admin.preconditions import (
    PreconditionFailed,
    PreconditionRequired,
    check_if_match,
    check_if_none_match,
    etag,
    require_reason,
)
from gateway.services.context import Gateway
from gateway.services.recognition.crosswalks import (
    CrosswalkNotFound,
    CrosswalkRegistry,
    Head,
    VersionRow,
    check_document,
    effective_from,
    one_version,
    read_head,
    read_heads,
    read_versions,
)
from gateway.store.audit import append_audit
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.engine import reader
from gateway.store.tables import crosswalk_heads, crosswalk_versions

__all__ = [
    "CrosswalkNotFound",
    "LocalSchemeTaken",
    "NotADraft",
    "NothingToRollBack",
    "create_draft",
    "list_crosswalks",
    "publish",
    "rollback",
    "show_crosswalk",
    "show_version",
    "validate_document",
]


class NotADraft(Conflict):
    code = "not_a_draft"
    title = "Only a draft version can be published"


class NothingToRollBack(Conflict):
    code = "nothing_to_roll_back"
    title = "The crosswalk has no earlier published version"


class LocalSchemeTaken(Conflict):
    code = "local_scheme_taken"
    title = "Another crosswalk already maps this local scheme"


def _head(conn: Connection, crosswalk_id: str) -> Head:
    head = read_head(conn, crosswalk_id)
    if head is None:
        raise CrosswalkNotFound(f"There is no crosswalk {crosswalk_id}.")
    return head


def _meta(v: VersionRow) -> dict[str, Any]:
    return {
        "version": v.version,
        "state": v.state,
        "digest": v.digest,
        "effective_from": v.effective_from.isoformat(),
        "created_by": v.created_by,
        "created_at": v.created_at.isoformat(),
        "published_by": v.published_by,
        "published_at": v.published_at.isoformat() if v.published_at else None,
        "reason": v.reason,
    }


def _view(head: Head, versions: list[VersionRow], *, document: bool) -> dict[str, Any]:
    published = next((v for v in versions if v.version == head.published_version), None)
    out: dict[str, Any] = {
        "id": head.crosswalk_id,
        "local_scheme": head.local_scheme,
        "common_scheme": (published or versions[-1]).common_scheme if versions else None,
        "published_version": head.published_version,
        "published_digest": published.digest if published else None,
        "effective_from": published.effective_from.isoformat() if published else None,
        "drafts": [v.version for v in versions if v.state == "draft"],
        "etag": etag(head.row_version),
        "updated_at": head.updated_at.isoformat(),
    }
    if document:
        out["document"] = dict(published.document) if published else None
        out["history"] = [_meta(v) for v in reversed(versions)]
    return out


def _bump(conn: Connection, head: Head, **values: Any) -> None:
    """Move the head on, only if nobody else did since it was read."""
    h = crosswalk_heads
    done = conn.execute(
        update(h)
        .where(h.c.crosswalk_id == head.crosswalk_id, h.c.row_version == head.row_version)
        .values(row_version=head.row_version + 1, updated_at=utcnow(), **values)
        .returning(h.c.row_version)
    ).first()
    if done is None:
        fresh = read_head(conn, head.crosswalk_id)
        raise PreconditionFailed(
            "Another change to this crosswalk committed first; re-read it and retry.",
            current_etag=etag(fresh.row_version) if fresh else None,
            published_version=fresh.published_version if fresh else None,
        )


def _audit(conn: Connection, actor: str, action: str, crosswalk_id: str, details: Mapping[str, Any]) -> None:
    append_audit(
        conn,
        actor_type="admin",
        actor_id=actor,
        action=action,
        target_type="crosswalk",
        target_ref=crosswalk_id,
        details=details,
    )


def _state(v: VersionRow | None) -> dict[str, Any] | None:
    return {"version": v.version, "digest": v.digest} if v else None


def _refresh(gw: Gateway) -> None:
    # This process serves the change at once; the others within the background refresh bound.
    if isinstance(gw.mappings, CrosswalkRegistry):
        gw.mappings.refresh()


def list_crosswalks(gw: Gateway) -> list[dict[str, Any]]:
    with reader(gw.engine).connect() as conn:
        heads = read_heads(conn)
        by_id: dict[str, list[VersionRow]] = {}
        for row in read_versions(conn):
            by_id.setdefault(row.crosswalk_id, []).append(row)
        conn.rollback()
    return [_view(head, by_id.get(head.crosswalk_id, []), document=False) for head in heads]


def show_crosswalk(gw: Gateway, crosswalk_id: str) -> dict[str, Any]:
    """The head, the published document and every version's metadata, newest first."""
    with reader(gw.engine).connect() as conn:
        head = _head(conn, crosswalk_id)
        versions = read_versions(conn, crosswalk_id)
        conn.rollback()
    return _view(head, versions, document=True)


def show_version(gw: Gateway, crosswalk_id: str, version: int) -> dict[str, Any]:
    with reader(gw.engine).connect() as conn:
        row = one_version(conn, crosswalk_id, version)
        conn.rollback()
    return {"crosswalk_id": crosswalk_id, **_meta(row), "document": dict(row.document)}


def validate_document(gw: Gateway, document: Mapping[str, Any]) -> dict[str, Any]:
    """Check a document against the published schemes without storing it.

    :raises InvalidMapping: naming the first rule it breaks.
    """
    cw = check_document(document, gw.mappings.schemes)
    return {"valid": True, "id": cw.id, "version": cw.version, "local_scheme": cw.local_scheme, "digest": cw.digest}


def create_draft(
    gw: Gateway,
    actor: str,
    crosswalk_id: str,
    document: Mapping[str, Any],
    *,
    reason: str,
    if_match: str | None,
    if_none_match: str | None = None,
) -> dict[str, Any]:
    """Store ``document`` as the crosswalk's next version, a draft. The server numbers versions:
    the document's own ``version`` is replaced. A new crosswalk is created with
    ``If-None-Match: *``; an existing one needs its ETag in ``If-Match``.

    :raises PreconditionRequired, PreconditionFailed: see :mod:`gateway.services.admin.preconditions`.
    :raises InvalidMapping: the document breaks a rule, or does not belong to this crosswalk.
    :raises LocalSchemeTaken: a new crosswalk for a local scheme another crosswalk maps.
    """
    why = require_reason(reason)
    if document.get("id") != crosswalk_id:
        raise InvalidMapping("The document's id is not the crosswalk it is filed under.")
    v = crosswalk_versions
    with gw.engine.begin() as conn:
        head = read_head(conn, crosswalk_id)
        if head is None:
            if not check_if_none_match(if_none_match):
                if if_match:  # If-Match never matches a resource that does not exist (RFC 9110 §13.1.1)
                    raise PreconditionFailed(f"There is no crosswalk {crosswalk_id}; create it with If-None-Match: *.")
                raise PreconditionRequired(f"Create crosswalk {crosswalk_id} with If-None-Match: *.")
            number = 1
        else:
            if check_if_none_match(if_none_match):
                raise PreconditionFailed("The crosswalk exists already.", current_etag=etag(head.row_version))
            check_if_match(if_match, head.row_version, published_version=head.published_version)
            latest = conn.execute(select(func.max(v.c.version)).where(v.c.crosswalk_id == crosswalk_id)).scalar_one()
            number = int(latest) + 1
        doc = {**document, "version": number}
        cw = check_document(doc, gw.mappings.schemes)
        if head is None:
            owner = conn.execute(
                select(crosswalk_heads.c.crosswalk_id).where(crosswalk_heads.c.local_scheme == cw.local_scheme)
            ).scalar()
            if owner is not None:
                raise LocalSchemeTaken(f"Crosswalk {owner} already maps {cw.local_scheme}.", crosswalk=owner)
            # RETURNING, not rowcount: the PostgreSQL driver does not count an INSERT … ON CONFLICT.
            created = conn.execute(
                insert_ignoring_conflicts(conn, crosswalk_heads, ["crosswalk_id"])
                .values(crosswalk_id=crosswalk_id, local_scheme=cw.local_scheme, row_version=1, updated_at=utcnow())
                .returning(crosswalk_heads.c.crosswalk_id)
            ).first()
            if created is None:
                raise PreconditionFailed("Another administrator created this crosswalk first.")
        else:
            if cw.local_scheme != head.local_scheme:
                raise InvalidMapping(f"Crosswalk {crosswalk_id} maps {head.local_scheme}; the document names another.")
            _bump(conn, head)
        conn.execute(
            insert(v).values(
                crosswalk_id=crosswalk_id,
                version=number,
                local_scheme=cw.local_scheme,
                common_scheme=cw.common_scheme,
                state="draft",
                document=doc,
                digest=cw.digest,
                effective_from=effective_from(cw),
                created_by=actor,
                created_at=utcnow(),
                reason=why,
            )
        )
        _audit(
            conn,
            actor,
            "crosswalk.draft",
            crosswalk_id,
            {
                "before": {"published_version": head.published_version if head else None},
                "after": {"draft_version": number, "digest": cw.digest},
                "reason": why,
            },
        )
        new_head = _head(conn, crosswalk_id)
        row = one_version(conn, crosswalk_id, number)
    return {"crosswalk_id": crosswalk_id, **_meta(row), "etag": etag(new_head.row_version)}


def publish(
    gw: Gateway, actor: str, crosswalk_id: str, version: int, *, reason: str, if_match: str | None
) -> dict[str, Any]:
    """Put a draft in force: it becomes the published version, the previous one is retired.

    :raises NotADraft: the version was published or retired already.
    :raises InvalidMapping: the draft no longer validates against the published schemes.
    """
    why = require_reason(reason)
    v = crosswalk_versions
    with gw.engine.begin() as conn:
        head = _head(conn, crosswalk_id)
        check_if_match(if_match, head.row_version, published_version=head.published_version)
        draft = one_version(conn, crosswalk_id, version)
        if draft.state != "draft":
            raise NotADraft(f"Version {version} is {draft.state}.", state=draft.state)
        check_document(draft.document, gw.mappings.schemes)
        before = one_version(conn, crosswalk_id, head.published_version) if head.published_version else None
        _bump(conn, head, published_version=version)
        now = utcnow()
        conn.execute(
            update(v).where(v.c.crosswalk_id == crosswalk_id, v.c.state == "published").values(state="retired")
        )
        conn.execute(
            update(v)
            .where(v.c.crosswalk_id == crosswalk_id, v.c.version == version)
            .values(state="published", published_by=actor, published_at=now)
        )
        _audit(
            conn,
            actor,
            "crosswalk.publish",
            crosswalk_id,
            {"before": _state(before), "after": _state(draft), "reason": why},
        )
        versions = read_versions(conn, crosswalk_id)
        head = _head(conn, crosswalk_id)
    _refresh(gw)
    return _view(head, versions, document=True)


def rollback(gw: Gateway, actor: str, crosswalk_id: str, *, reason: str, if_match: str | None) -> dict[str, Any]:
    """Publish again the content of the version published before the current one, as a new version.

    :raises NothingToRollBack: no other version was ever published.
    :raises InvalidMapping: that content no longer validates against the published schemes.
    """
    why = require_reason(reason)
    v = crosswalk_versions
    with gw.engine.begin() as conn:
        head = _head(conn, crosswalk_id)
        check_if_match(if_match, head.row_version, published_version=head.published_version)
        versions = read_versions(conn, crosswalk_id)
        current = next((r for r in versions if r.version == head.published_version), None)
        earlier = sorted(
            (r for r in versions if r.published_at is not None and r.version != head.published_version),
            key=lambda r: (r.published_at, r.version),
        )
        if current is None or not earlier:
            raise NothingToRollBack("No earlier published version to return to.")
        previous = earlier[-1]
        number = max(r.version for r in versions) + 1
        doc = {**previous.document, "version": number}
        cw = check_document(doc, gw.mappings.schemes)
        _bump(conn, head, published_version=number)
        now = utcnow()
        conn.execute(
            update(v).where(v.c.crosswalk_id == crosswalk_id, v.c.state == "published").values(state="retired")
        )
        conn.execute(
            insert(v).values(
                crosswalk_id=crosswalk_id,
                version=number,
                local_scheme=cw.local_scheme,
                common_scheme=cw.common_scheme,
                state="published",
                document=doc,
                digest=cw.digest,
                effective_from=previous.effective_from,
                created_by=actor,
                created_at=now,
                published_by=actor,
                published_at=now,
                reason=f"Rollback to the content of version {previous.version}: {why}",
            )
        )
        after = {"version": number, "digest": cw.digest, "restored_from": previous.version}
        _audit(
            conn, actor, "crosswalk.rollback", crosswalk_id, {"before": _state(current), "after": after, "reason": why}
        )
        versions = read_versions(conn, crosswalk_id)
        head = _head(conn, crosswalk_id)
    _refresh(gw)
    return _view(head, versions, document=True)
