"""The public incentive catalogue and "what could I get" (measure 三(三): the incentives a good
integrity level earns, in loans and credit lines, deposits, transport, tourism and culture, hotels
and catering, rental housing, elderly care and medical care).

Every programme in force is listed with its provider, purpose, benefits, thresholds and the level
each needs, in Chinese and English, as 瓯江分 and 白鹭分 publish their scenario thresholds.
:func:`qualifying_programmes` answers, for a Shaoxing tier, which programmes that tier reaches —
the same translation (local tier → ``yrd-common/1`` → the programme's scheme) and the same rule
(:func:`gateway.services.recognition.programmes.evaluate`) that an eligibility decision uses, so the resident's
view and the bank's signed decision cannot disagree.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gateway.clock import today_in_shaoxing
from gateway.errors import NotFound
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import local_scheme_id
from gateway.services.publication.purposes import PURPOSE_LABELS, purpose_list
from gateway.services.recognition.programmes import Programme, evaluate
from gateway.services.recognition.recognition import TierRef, translate
from gateway.store import people as people_store
from gateway.store import scores as scores_store

__all__ = ["NoCurrentTier", "my_programmes", "programme_catalogue", "public_programme", "qualifying_programmes"]


class NoCurrentTier(NotFound):
    code = "no_current_tier"
    title = "There is no current tier to match programmes against"


def _level_label(gw: Gateway, scheme: str, code: str) -> dict[str, str] | None:
    s = gw.mappings.schemes.get(scheme)
    tier = s.tier(code) if s is not None else None
    return {"zh": tier.label_zh, "en": tier.label_en} if tier is not None else None


def public_programme(gw: Gateway, p: Programme) -> dict[str, Any]:
    doc = p.document
    owner = gw.partners.get(p.owner)
    return {
        **p.reference(),
        "name": dict(doc["name"]),
        "description": dict(doc["description"]) if "description" in doc else None,
        "provider": {
            "id": p.owner,
            "name": {"zh": owner.name_zh, "en": owner.name_en} if owner is not None else None,
            "kind": owner.kind if owner is not None else None,
        },
        "purpose": {"code": p.purpose, "label": dict(PURPOSE_LABELS[p.purpose])},
        "basis": p.basis,
        "scheme": p.scheme,
        "grants": [
            {
                "min_level": g.min_level,
                "min_level_label": _level_label(gw, p.scheme, g.min_level),
                "benefit": dict(g.benefit),
            }
            for g in p.grants
        ],
        "valid_from": p.valid_from.isoformat(),
        "valid_until": p.valid_until.isoformat() if p.valid_until else None,
    }


def programme_catalogue(gw: Gateway, *, on: date | None = None) -> dict[str, Any]:
    """Every programme in force on ``on`` (Shaoxing's day), and the closed purpose list."""
    day = on or today_in_shaoxing()
    live = sorted((p for p in gw.programmes.by_id.values() if p.in_force(day)), key=lambda p: p.id)
    return {"purposes": purpose_list(), "programmes": [public_programme(gw, p) for p in live]}


def qualifying_programmes(gw: Gateway, tier: str, *, on: date | None = None) -> list[dict[str, Any]]:
    """The programmes in force that a resident at Shaoxing tier ``tier`` (of the model in force)
    qualifies for, each with the best benefit reached and the level the rule was applied to."""
    day = on or today_in_shaoxing()
    source = TierRef(local_scheme_id(gw.model.version), tier)
    out = []
    for p in sorted(gw.programmes.by_id.values(), key=lambda p: p.id):
        translation = translate(gw.mappings, source, p.scheme)
        level = translation.target
        outcome = evaluate(p, level.code if level else None, translation.common_level, on=day)
        if outcome.grant is None:
            continue
        out.append(
            {
                **public_programme(gw, p),
                "benefit": dict(outcome.grant.benefit),
                "level": dict(outcome.level) if outcome.level else None,
                "common_level": translation.common_level,
            }
        )
    return out


def my_programmes(gw: Gateway, id_hash: str) -> dict[str, Any]:
    """What the resident's current tier qualifies for.

    :raises NoCurrentTier: no eligible current score (the same answer whether or not the person is known).
    """
    with gw.engine.connect() as conn:
        person = people_store.find_person(conn, id_hash)
        current = scores_store.get_current(conn, person.id) if person is not None else None
        conn.rollback()
    if current is None or not current.eligible or current.tier is None or current.model_version != gw.model.version:
        raise NoCurrentTier("You have no current tier yet, so no programme can be matched.")
    return {
        "tier": {"scheme": local_scheme_id(current.model_version), "code": current.tier},
        "as_of": current.as_of.isoformat(),
        "programmes": qualifying_programmes(gw, current.tier),
    }
