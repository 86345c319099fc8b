"""Providers own their programmes (measure 三(三): banks and incentive providers set the benefits a
good integrity level earns): draft, validate, preview, publish, roll back — with the ETags,
history and audit of crosswalks (:mod:`gateway.services.publication.governance`).

The caller is either a partner (a financial institution or incentive provider, with its own access
token), scoped to the programmes it owns — any other programme answers 404 exactly as a missing
one — or a ``partner_admin`` administrator, who may work on every programme. The preview counts
the current Shaoxing population by tier and says, per tier, whether the draft (and the version in
force) would grant something: aggregate counts only, computed with the same translation and rule
as an eligibility decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from gateway.clock import today_in_shaoxing
from gateway.errors import ValidationFailed
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import local_scheme_id
from gateway.services.publication import governance
from gateway.services.recognition.programmes import Programme, evaluate
from gateway.services.recognition.recognition import TierRef, translate
from gateway.store.engine import reader
from gateway.store.tables import current_scores

__all__ = ["Caller", "create_draft", "list_programmes", "preview", "publish", "rollback", "show", "validate"]

KIND = "programme"


class Caller:
    """Who acts: ``("partner", id)`` scoped to its own programmes, or ``("admin", name)`` unscoped."""

    def __init__(self, actor_type: str, actor_id: str) -> None:
        self.actor = (actor_type, actor_id)
        self.owner = actor_id if actor_type == "partner" else None


def _refresh(gw: Gateway) -> None:
    gw.programmes.refresh()  # this process at once; the others within the refresh bound


def list_programmes(gw: Gateway, caller: Caller) -> list[dict[str, Any]]:
    return governance.list_documents(gw.engine, KIND, owner=caller.owner)


def show(gw: Gateway, caller: Caller, programme_id: str) -> dict[str, Any]:
    return governance.show_document(gw.engine, KIND, programme_id, owner=caller.owner)


def show_version(gw: Gateway, caller: Caller, programme_id: str, version: int) -> dict[str, Any]:
    return governance.show_version(gw.engine, KIND, programme_id, version, owner=caller.owner)


def validate(gw: Gateway, caller: Caller, document: Mapping[str, Any]) -> dict[str, Any]:
    """:raises PurposeNotListed, DocumentRejected: naming the rule broken; nothing is stored."""
    checked = gw.programmes.kind.check(document, 1)
    if caller.owner is not None and checked.owner != caller.owner:
        raise ValidationFailed("A partner may only write programmes it owns (owner is the calling partner).")
    return {"valid": True, "id": checked.document["id"], "digest": checked.digest, "owner": checked.owner}


def create_draft(
    gw: Gateway,
    caller: Caller,
    programme_id: str,
    document: Mapping[str, Any],
    *,
    reason: str,
    if_match: str | None,
    if_none_match: str | None,
) -> dict[str, Any]:
    if document.get("id") != programme_id:
        raise ValidationFailed("The document's id is not the programme it is filed under.")
    if caller.owner is not None and document.get("owner") != caller.owner:
        raise ValidationFailed("A partner may only write programmes it owns (owner is the calling partner).")
    return governance.create_draft(
        gw.engine,
        gw.programmes.kind,
        caller.actor,
        programme_id,
        document,
        reason=reason,
        if_match=if_match,
        if_none_match=if_none_match,
        owner=caller.owner,
    )


def publish(
    gw: Gateway, caller: Caller, programme_id: str, version: int, *, reason: str, if_match: str | None
) -> dict[str, Any]:
    view = governance.publish(
        gw.engine,
        gw.programmes.kind,
        caller.actor,
        programme_id,
        version,
        reason=reason,
        if_match=if_match,
        owner=caller.owner,
    )
    _refresh(gw)
    return view


def rollback(gw: Gateway, caller: Caller, programme_id: str, *, reason: str, if_match: str | None) -> dict[str, Any]:
    view = governance.rollback(
        gw.engine, gw.programmes.kind, caller.actor, programme_id, reason=reason, if_match=if_match, owner=caller.owner
    )
    _refresh(gw)
    return view


def _outcome(gw: Gateway, programme: Programme | None, tier: str) -> dict[str, Any] | None:
    if programme is None:
        return None
    translation = translate(gw.mappings, TierRef(local_scheme_id(gw.model.version), tier), programme.scheme)
    level = translation.target
    result = evaluate(programme, level.code if level else None, translation.common_level, on=today_in_shaoxing())
    return {
        "level": level.code if level else translation.common_level,
        "qualifies": result.eligible,
        "benefit": dict(result.grant.benefit) if result.grant else None,
    }


def preview(
    gw: Gateway, caller: Caller, programme_id: str, *, version: int | None, document: Mapping[str, Any] | None
) -> dict[str, Any]:
    """How many residents, by Shaoxing tier, the draft (or a document) and the live version would serve."""
    if (version is None) == (document is None):
        raise ValidationFailed("Preview either a stored version or a document, not both.")
    view = governance.show_document(gw.engine, KIND, programme_id, owner=caller.owner)
    if version is not None:
        draft_doc = governance.show_version(gw.engine, KIND, programme_id, version, owner=caller.owner)["document"]
    else:
        assert document is not None
        if document.get("id") != programme_id:
            raise ValidationFailed("The document's id is not the programme it is filed under.")
        draft_doc = dict(gw.programmes.kind.check(document, 1).document)
    draft = gw.programmes.compile(draft_doc)
    live = gw.programmes.compile(view["document"]) if view["document"] else None
    t = current_scores
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(
            select(t.c.tier, func.count())
            .where(t.c.eligible.is_(True), t.c.model_version == gw.model.version)
            .group_by(t.c.tier)
        ).all()
        conn.rollback()
    counts = {str(tier): int(n) for tier, n in rows if tier is not None}
    by_tier = []
    totals = {"draft": 0, "live": 0}
    for tier in sorted(gw.model.tiers, key=lambda t: -t.min_score):
        n = counts.get(tier.code, 0)
        d, lv = _outcome(gw, draft, tier.code), _outcome(gw, live, tier.code)
        totals["draft"] += n if d and d["qualifies"] else 0
        totals["live"] += n if lv and lv["qualifies"] else 0
        by_tier.append({"tier": tier.code, "residents": n, "draft": d, "live": lv})
    return {
        "programme": programme_id,
        "version": version,
        "scored_residents": sum(counts.values()),
        "qualifying": totals,
        "by_tier": by_tier,
    }
