"""Administrators' work on the scoring model and the catalogue: list, show, validate, draft, preview,
publish (with a reason and an effective date), roll back — for ``gateway model …``,
``gateway catalogue …`` and ``/v1/admin/model``, ``/v1/admin/catalogue`` alike.

The impact preview scores the stored population with the draft and with the live model through
the pure scoring core (:func:`gateway.scoring.compute`), chunk by chunk in id order, so memory is
bounded by the chunk size; beyond ``max_people`` residents it scores a systematic sample (every
k-th person) and says so. Nothing is written.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from sqlalchemy import func, select

from gateway.errors import ValidationFailed
from gateway.scoring import ScoringInputs, ScoringModel, compute, load_model
from gateway.services.context import Gateway, today_in_shaoxing
from gateway.services.publication import governance
from gateway.services.publication.model_governance import (
    CATALOGUE_ID,
    MODEL_ID,
    catalogue_kind,
    check_effective_date,
    model_kind,
    published_catalogue,
    published_model,
)
from gateway.services.scores.scoring import recompute_all
from gateway.store import records as records_store
from gateway.store.engine import reader
from gateway.store.tables import people
from gateway.store.tables_publication import governed_heads

__all__ = ["DOC_IDS", "create_draft", "preview_model", "publish", "refresh", "rollback", "show", "validate"]

DOC_IDS: Final = {"model": MODEL_ID, "catalogue": CATALOGUE_ID}
MAX_PREVIEW_PEOPLE: Final = 1_000_000
_PREVIEW_CHUNK: Final = 5000
_seen: dict[int, dict[str, int]] = {}  # per gateway context: the governed version it serves
_seen_lock = threading.Lock()


def _kind(gw: Gateway, name: str) -> governance.Kind:
    if name == "model":
        return model_kind(gw.engine, lambda: gw.catalogue, gw.mappings.schemes)
    if name == "catalogue":
        return catalogue_kind(lambda: gw.model)
    raise ValidationFailed("Governed documents here are 'model' and 'catalogue'.")


def refresh(gw: Gateway) -> bool:
    """Serve the published model and catalogue in this process; True when either changed."""
    changed = False
    h = governed_heads
    with _seen_lock:
        seen = _seen.setdefault(id(gw), {})
        # Only the heads every tick (two short rows); a document is read and compiled when one moved.
        with reader(gw.engine).connect() as conn:
            heads = dict(
                conn.execute(select(h.c.kind, h.c.published_version).where(h.c.kind.in_(("model", "catalogue")))).all()
            )
            conn.rollback()
        if heads.get("catalogue") is not None and seen.get("catalogue") != heads["catalogue"]:
            catalogue = published_catalogue(gw.engine)
            if catalogue is not None:
                gw.catalogue = catalogue[1]
                seen["catalogue"] = catalogue[0]
                changed = True
        if heads.get("model") is not None and seen.get("model") != heads["model"]:
            model = published_model(gw.engine, gw.catalogue.indicator_items)
            if model is not None:
                gw.model = model[1]
                seen["model"] = model[0]
                changed = True
    return changed


def list_documents(gw: Gateway) -> list[dict[str, Any]]:
    return governance.list_documents(gw.engine, "model") + governance.list_documents(gw.engine, "catalogue")


def show(gw: Gateway, name: str) -> dict[str, Any]:
    _kind(gw, name)
    return governance.show_document(gw.engine, name, DOC_IDS[name])


def show_version(gw: Gateway, name: str, version: int) -> dict[str, Any]:
    _kind(gw, name)
    return governance.show_version(gw.engine, name, DOC_IDS[name], version)


def validate(gw: Gateway, name: str, document: Mapping[str, Any]) -> dict[str, Any]:
    checked = _kind(gw, name).check(document, 0)
    return {"valid": True, "digest": checked.digest, "version": document.get("version")}


def create_draft(
    gw: Gateway, name: str, actor: str, document: Mapping[str, Any], *, reason: str, if_match: str | None
) -> dict[str, Any]:
    return governance.create_draft(
        gw.engine, _kind(gw, name), ("admin", actor), DOC_IDS[name], document, reason=reason, if_match=if_match
    )


def _after_change(gw: Gateway, name: str, view: dict[str, Any]) -> dict[str, Any]:
    refresh(gw)
    if name == "model":
        # A new model changes scores: rescore everyone now and supersede what no longer holds.
        # In this process, not forked scorers: a serving process has threads (the server's pool, the
        # refresh), and a fork copies whatever lock one of them held at that moment.
        report = recompute_all(gw, trigger="model_publish", workers=1)
        view["recompute"] = {
            "people": report.people,
            "eligible": report.eligible,
            "model_version": report.model_version,
        }
    return view


def publish(
    gw: Gateway,
    name: str,
    actor: str,
    version: int,
    *,
    reason: str,
    if_match: str | None,
    effective_from: date | None = None,
) -> dict[str, Any]:
    view = governance.publish(
        gw.engine,
        _kind(gw, name),
        ("admin", actor),
        DOC_IDS[name],
        version,
        reason=reason,
        if_match=if_match,
        effective_from=check_effective_date(effective_from),
    )
    return _after_change(gw, name, view)


def rollback(gw: Gateway, name: str, actor: str, *, reason: str, if_match: str | None) -> dict[str, Any]:
    view = governance.rollback(
        gw.engine, _kind(gw, name), ("admin", actor), DOC_IDS[name], reason=reason, if_match=if_match
    )
    return _after_change(gw, name, view)


def preview_model(
    gw: Gateway,
    *,
    version: int | None = None,
    document: Mapping[str, Any] | None = None,
    max_people: int = MAX_PREVIEW_PEOPLE,
    as_of: date | None = None,
) -> dict[str, Any]:
    """The current population by tier under the draft against the live model (counts, and moves)."""
    if (version is None) == (document is None):
        raise ValidationFailed("Preview either a stored version or a document, not both.")
    if document is None:
        assert version is not None
        document = show_version(gw, "model", version)["document"]
    _kind(gw, "model").check(document, 0)
    draft: ScoringModel = load_model(document, known_items=gw.catalogue.indicator_items)
    live = gw.model
    day = as_of or today_in_shaoxing()
    with reader(gw.engine).connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(people)).scalar_one())
        conn.rollback()
    step = max(1, math.ceil(total / max_people)) if max_people > 0 else 1
    live_tiers: Counter[str] = Counter()
    draft_tiers: Counter[str] = Counter()
    moves: Counter[tuple[str, str]] = Counter()
    scored = 0
    last_id = 0
    while True:
        with reader(gw.engine).connect() as conn:
            rows = conn.execute(
                select(people.c.id, people.c.birth_date)
                .where(people.c.id > last_id)
                .order_by(people.c.id)
                .limit(_PREVIEW_CHUNK * step)
            ).all()
            if not rows:
                conn.rollback()
                break
            last_id = rows[-1][0]
            sample = rows[::step]
            recs = records_store.load_records_for_ids(conn, [r[0] for r in sample])
            conn.rollback()
        for pid, born in sample:
            inputs = ScoringInputs(born, recs.get(pid, []))
            before, after = compute(inputs, live, day), compute(inputs, draft, day)
            scored += 1
            a = before.tier.code if before.eligible and before.tier else "ineligible"
            b = after.tier.code if after.eligible and after.tier else "ineligible"
            live_tiers[a] += 1
            draft_tiers[b] += 1
            if a != b:
                moves[(a, b)] += 1
    codes = [t.code for t in sorted(draft.tiers, key=lambda t: -t.min_score)]
    codes += [c for c in sorted(set(live_tiers) | set(draft_tiers)) if c not in codes]
    return {
        "live_version": live.version,
        "draft_version": draft.version,
        "population": total,
        "scored": scored,
        "sampled": step > 1,
        "sample_every": step,
        "as_of": day.isoformat(),
        "tiers": [{"tier": c, "live": live_tiers.get(c, 0), "draft": draft_tiers.get(c, 0)} for c in codes],
        "changed": sum(moves.values()),
        "moves": [{"from": a, "to": b, "residents": n} for (a, b), n in sorted(moves.items())],
    }
