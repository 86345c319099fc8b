"""What a resident sees about themself: their own score and every disclosure made about them.

Measure 三(二) lets a person query their own score free of charge through the designated
channels, and 四(二) lets them object to a score or an item — which needs the items that counted,
so the view lists each record with its unit, catalogue item and date. The disclosure log makes
every assertion issued about the person visible to them (三(二): every disclosure is authorised,
logged and visible to the person). Nothing here costs anything or is metered.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, select

from gateway.clock import as_utc
from gateway.errors import NotFound
from gateway.services.context import Gateway
from gateway.services.residents.consents import partner_name
from gateway.services.residents.resident_identity import Resident
from gateway.services.rights.disputes import load_marks
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.audit import append_audit
from gateway.store.engine import reader
from gateway.store.tables import disclosures, information_records, provincial_evaluations

__all__ = ["INELIGIBILITY_LABELS", "PersonUnknown", "my_disclosures", "my_score"]

# Why there is no score, in the resident's words (codes from gateway.scoring.eligibility).
INELIGIBILITY_LABELS: Final = {
    "no_authorisation": {
        "zh": "尚未实名认证并授权评分",
        "en": "No real-name authorisation to be scored has been recorded",
    },
    "authorisation_withdrawn": {
        "zh": "本人已撤回评分授权",
        "en": "You withdrew your authorisation to be scored",
    },
    "under_age": {"zh": "未满18周岁", "en": "Under 18 years of age"},
    "not_resident": {
        "zh": "无本市户籍或有效居住证",
        "en": "No local household registration or valid residence permit",
    },
    "no_full_civil_capacity": {
        "zh": "不具有完全民事行为能力",
        "en": "Not of full civil capacity",
    },
}
_NOT_YET_SCORED: Final = {
    "zh": "诚信分尚未计算",
    "en": "The integrity score has not been computed yet",
}


class PersonUnknown(NotFound):
    code = "person_unknown"
    title = "The gateway holds no information about you"


def _records(gw: Gateway, conn: Connection, refs: set[str]) -> dict[str, dict[str, Any]]:
    """Unit, catalogue item and date of the records a score counted (``r:<id>``, ``p:<id>``)."""
    rec_ids = sorted(int(r[2:]) for r in refs if r.startswith("r:"))
    pe_ids = sorted(int(r[2:]) for r in refs if r.startswith("p:"))
    found: list[tuple[str, str, str, Any]] = []
    if rec_ids:
        t = information_records
        stmt = select(t.c.id, t.c.unit_id, t.c.item_code, t.c.occurred_at).where(t.c.id.in_(rec_ids))
        found += [(f"r:{r.id}", r.unit_id, r.item_code, r.occurred_at) for r in conn.execute(stmt)]
    if pe_ids:
        p = provincial_evaluations
        stmt = select(p.c.id, p.c.unit_id, p.c.evaluated_on).where(p.c.id.in_(pe_ids))
        found += [(f"p:{r.id}", r.unit_id, "provincial_evaluation", r.evaluated_on) for r in conn.execute(stmt)]
    out: dict[str, dict[str, Any]] = {}
    for ref, unit, item_code, occurred in found:
        item = gw.catalogue.item(item_code)
        out[ref] = {
            "ref": ref,
            "unit": unit,
            "unit_name": partner_name(gw, unit),
            "item": {
                "code": item_code,
                "name": {"zh": item.name_zh, "en": item.name_en} if item is not None else None,
            },
            "occurred_at": occurred.isoformat(),
        }
    return out


def my_score(gw: Gateway, resident: Resident) -> dict[str, Any]:
    """The resident's own current score, tier and breakdown — or why there is none.

    ``status`` is ``scored``, ``ineligible`` (with ``reason``, an eligibility code) or
    ``not_scored`` (the gateway knows the person, e.g. from a consent, but computed nothing yet).

    :raises PersonUnknown: (404) the gateway holds nothing about the person at all.
    """
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            raise PersonUnknown("No collaborating unit has reported anything about you yet.")
        current = scores_store.get_current(conn, person.id)
        history = scores_store.get_history_row(conn, current.score_id) if current is not None else None
        breakdown = list((history or {}).get("breakdown") or [])
        records = _records(gw, conn, {ref for entry in breakdown for ref in entry["records"]})
        marks = load_marks(conn, [person.id])  # issue 14: disputed records and cannot-confirm notes
        # Residents' own look-ups are audited like officers', so the log shows every view of a score.
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id),
            action="score.view_own",
            target_type="person",
            target_ref=str(person.id),
            details={"score_id": current.score_id if current is not None else None},
        )
    base: dict[str, Any] = {"person": {"name_masked": person.name_masked}, "max_score": 1000}
    if current is None:
        return marks.apply(
            {**base, "status": "not_scored", "reason": "not_yet_scored", "reason_label": _NOT_YET_SCORED}
        )
    common = {
        "model_version": current.model_version,
        "as_of": current.as_of.isoformat(),
        "computed_at": as_utc(current.computed_at).isoformat(),
    }
    if not current.eligible or current.score is None:
        reason = current.reason or "ineligible"
        return marks.apply(
            {
                **base,
                **common,
                "status": "ineligible",
                "reason": reason,
                "reason_label": INELIGIBILITY_LABELS.get(reason),
            }
        )
    tier = next((t for t in gw.model.tiers if t.code == current.tier), None)
    view = {
        **base,
        **common,
        "status": "scored",
        "score": current.score,
        "tier": {"code": tier.code, "label": {"zh": tier.label_zh, "en": tier.label_en}} if tier else None,
        "breakdown": [
            {
                "indicator": entry["indicator"],
                "family": entry["family"],
                "points": entry["points"],
                "capped": entry.get("capped", False),
                "records": [records.get(ref, {"ref": ref}) for ref in entry["records"]],
            }
            for entry in breakdown
        ],
    }
    return marks.apply(view)


def my_disclosures(gw: Gateway, resident: Resident) -> list[dict[str, Any]]:
    """Every assertion issued about the resident: to whom, for what, under which consent; newest first."""
    d = disclosures
    stmt = (
        select(
            d.c.audience,
            d.c.purpose,
            d.c.disclosure,
            d.c.consent_id,
            d.c.jti,
            d.c.tier,
            d.c.issued_at,
            d.c.expires_at,
        )
        .where(d.c.person_key == resident.id_hash)
        .order_by(d.c.issued_at.desc(), d.c.id.desc())
    )
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "audience": r.audience,
            "audience_name": partner_name(gw, r.audience),
            "purpose": r.purpose,
            "disclosure": r.disclosure,
            "tier": r.tier,
            "consent_id": r.consent_id,
            "jti": r.jti,
            "issued_at": as_utc(r.issued_at).isoformat(),
            "expires_at": as_utc(r.expires_at).isoformat(),
        }
        for r in rows
    ]
