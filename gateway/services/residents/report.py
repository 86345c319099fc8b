"""The resident's credit report: everything held and every look-up (PIPL Art. 45; measure 三(二), 四).

One document, free of charge: every record held about the resident in every status (valid, pending,
rejected, repaired, corrected — and ``quarantined`` while they have never authorised scoring), its
source unit and catalogue item, and whether and how much it counts; the score history (every
computation with its score, tier, model and trigger); every authorisation and consent event; and
every look-up about them with the answer given — officers' look-ups (purpose and case reference),
assertions issued, partners' consent requests, recognitions of Shaoxing assertions by other cities
and eligibility decisions made on them. "What would change my tier" comes from the scoring core.

``format=export`` returns the same document signed by the gateway as a ``credit-report+jwt``, so the
resident can prove what the gateway said; it verifies with the published JWKS like an assertion.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, select

from gateway.clock import as_utc, utcnow
from gateway.exchange import sign
from gateway.scoring.explain import explain_tier
from gateway.services.context import Gateway
from gateway.services.residents.authorisation import authorisation_state
from gateway.services.residents.consents import partner_name
from gateway.services.residents.lookups import lookups_for, statements_for
from gateway.services.residents.me import INELIGIBILITY_LABELS, PersonUnknown
from gateway.services.residents.resident_identity import Resident
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.audit import append_audit
from gateway.store.tables import (
    consents,
    disclosures,
    eligibility_decisions,
    information_records,
    provincial_evaluations,
    recognitions,
    score_history,
)
from gateway.store.tables_residents import consent_requests

__all__ = ["TYP_CREDIT_REPORT", "credit_report", "export_report"]

TYP_CREDIT_REPORT: Final = "credit-report+jwt"
_REPORT_AUDIENCE: Final = "resident-credit-report"


def _item_name(gw: Gateway, code: str) -> dict[str, str] | None:
    item = gw.catalogue.item(code)
    return {"zh": item.name_zh, "en": item.name_en} if item is not None else None


def _records(
    gw: Gateway, conn: Connection, person_id: int, counted: dict[str, list[dict[str, Any]]], quarantined: bool
) -> list[dict[str, Any]]:
    t, p = information_records, provincial_evaluations
    rows: list[tuple[str, Any, str]] = []
    rows += [(f"r:{r.id}", r, r.item_code) for r in conn.execute(select(t).where(t.c.person_id == person_id))]
    rows += [
        (f"p:{r.id}", r, "provincial_evaluation") for r in conn.execute(select(p).where(p.c.person_id == person_id))
    ]
    out = []
    for ref, row, item in rows:
        occurred = getattr(row, "occurred_at", None) or row.evaluated_on
        counts = counted.get(ref, [])
        out.append(
            {
                "ref": ref,
                "unit": row.unit_id,
                "unit_name": partner_name(gw, row.unit_id),
                "item": {"code": item, "name": _item_name(gw, item)},
                "occurred_at": occurred.isoformat(),
                "received_at": as_utc(row.received_at).isoformat(),
                # Kept apart while the person never authorised: never scored, never shown to others.
                "status": "quarantined" if quarantined else row.status,
                "status_reason": row.status_reason,
                "counts": bool(counts),
                "counts_in": counts,
            }
        )
    out.sort(key=lambda r: (r["occurred_at"], r["ref"]), reverse=True)
    return out


def _history(conn: Connection, person_id: int) -> list[dict[str, Any]]:
    h = score_history
    rows = conn.execute(
        select(
            h.c.computed_at, h.c.as_of, h.c.model_version, h.c.trigger, h.c.eligible, h.c.reason, h.c.score, h.c.tier
        )
        .where(h.c.person_id == person_id)
        .order_by(h.c.id.desc())
    ).all()
    return [
        {
            "computed_at": as_utc(r.computed_at).isoformat(),
            "as_of": r.as_of.isoformat(),
            "model_version": r.model_version,
            "trigger": r.trigger,
            "eligible": r.eligible,
            "reason": r.reason,
            "score": r.score,
            "tier": r.tier,
        }
        for r in rows
    ]


def _consent_events(gw: Gateway, conn: Connection, person_id: int) -> list[dict[str, Any]]:
    events = []
    for c in conn.execute(select(consents).where(consents.c.person_id == person_id)):
        base = {"consent": c.id, "audience": c.audience, "audience_name": partner_name(gw, c.audience)}
        events.append(
            {
                **base,
                "event": "granted",
                "at": as_utc(c.created_at).isoformat(),
                "purposes": list(c.purposes),
                "disclosure": c.disclosure,
                "channel": c.channel,
                "expires_at": as_utc(c.expires_at).isoformat(),
            }
        )
        if c.revoked_at is not None:
            events.append({**base, "event": "ended", "at": as_utc(c.revoked_at).isoformat()})
    return sorted(events, key=lambda e: e["at"], reverse=True)


def _lookups(gw: Gateway, conn: Connection, person_id: int, id_hash: str) -> dict[str, list[dict[str, Any]]]:
    d = disclosures
    issued = conn.execute(select(d).where(d.c.person_key == id_hash).order_by(d.c.issued_at.desc())).all()
    jtis = [r.jti for r in issued]
    recognised = conn.execute(select(recognitions).where(recognitions.c.assertion_jti.in_(jtis))).all() if jtis else []
    decided = (
        conn.execute(select(eligibility_decisions).where(eligibility_decisions.c.assertion_jti.in_(jtis))).all()
        if jtis
        else []
    )
    cr = consent_requests
    requests = conn.execute(select(cr).where(cr.c.person_id == person_id).order_by(cr.c.created_at.desc())).all()
    return {
        "officer_lookups": lookups_for(conn, person_id),
        "assertions_issued": [
            {
                "audience": r.audience,
                "audience_name": partner_name(gw, r.audience),
                "purpose": r.purpose,
                "disclosure": r.disclosure,
                "answer": {"tier": r.tier},
                "consent": r.consent_id,
                "jti": r.jti,
                "issued_at": as_utc(r.issued_at).isoformat(),
                "expires_at": as_utc(r.expires_at).isoformat(),
            }
            for r in issued
        ],
        "consent_requests": [
            {
                "request": r.id,
                "partner": r.partner_id,
                "partner_name": partner_name(gw, r.partner_id),
                "purpose": r.purpose,
                "disclosure": r.disclosure,
                "answer": r.status,
                "consent": r.consent_id,
                "at": as_utc(r.answered_at or r.created_at).isoformat(),
            }
            for r in requests
        ],
        "recognitions": [
            {
                "by": r.caller,
                "by_name": partner_name(gw, r.caller),
                "assertion": r.assertion_jti,
                "answer": {"common_level": r.common_level, "local_tier": r.local_tier},
                "at": as_utc(r.at).isoformat(),
            }
            for r in recognised
        ],
        "eligibility_decisions": [
            {
                "by": r.caller,
                "by_name": partner_name(gw, r.caller),
                "programme": r.programme_id,
                "assertion": r.assertion_jti,
                "answer": {"eligible": r.eligible, "level": r.level},
                "at": as_utc(r.at).isoformat(),
            }
            for r in decided
        ],
    }


def credit_report(gw: Gateway, resident: Resident, *, now: datetime | None = None) -> dict[str, Any]:
    """The resident's full credit report.

    :raises PersonUnknown: (404) the gateway holds nothing about the caller (says nothing about
        anyone else: the caller is identified by their own ID token).
    """
    now = now or utcnow()
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            raise PersonUnknown("The gateway holds nothing about you.")
        state = authorisation_state(conn, person.id, now=now)
        current = scores_store.get_current(conn, person.id)
        history_row = scores_store.get_history_row(conn, current.score_id) if current is not None else None
        breakdown = list((history_row or {}).get("breakdown") or [])
        counted: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in breakdown:
            for ref in entry["records"]:
                counted[ref].append({"indicator": entry["indicator"], "indicator_points": entry["points"]})
        score: dict[str, Any]
        if current is not None and current.eligible and current.score is not None:
            points = {e["indicator"]: float(e["points"]) for e in breakdown}
            score = {
                "status": "scored",
                "score": current.score,
                "tier": current.tier,
                "model_version": current.model_version,
                "as_of": current.as_of.isoformat(),
                "breakdown": breakdown,
                "what_would_change_my_tier": explain_tier(gw.model, current.score, points).as_dict(),
            }
        else:
            reason = current.reason if current is not None else "not_yet_scored"
            score = {"status": "none", "reason": reason, "reason_label": INELIGIBILITY_LABELS.get(reason or "")}
        due = state.deletion_due(gw)
        report = {
            "generated_at": now.isoformat(),
            "person": {"name_masked": person.name_masked},
            "authorisation": {
                "status": "granted" if state.live else (state.last_decision or "none"),
                "records_deleted_after": due.isoformat() if due else None,
                "events": list(state.events),
            },
            "score": score,
            "score_history": _history(conn, person.id),
            "records": _records(gw, conn, person.id, counted, quarantined=not state.ever_granted),
            "personal_statements": statements_for(conn, person.id),
            "consent_events": _consent_events(gw, conn, person.id),
            "lookups": _lookups(gw, conn, person.id, resident.id_hash),
        }
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id),
            action="report.view_own",
            target_type="person",
            target_ref=str(person.id),
            details={},
        )
    return report


def export_report(gw: Gateway, resident: Resident) -> dict[str, Any]:
    """The report signed by the gateway (``typ`` credit-report+jwt), for the resident to keep."""
    key = gw.keyring.signing_key()
    report = credit_report(gw, resident)
    now = utcnow()
    claims = {
        "iss": gw.settings.issuer,
        # A subject of its own, unlinkable to any partner's pairwise id; never the ID number.
        "sub": gw.hasher.pairwise_subject(resident.id_hash, _REPORT_AUDIENCE),
        "aud": _REPORT_AUDIENCE,
        "iat": int(now.timestamp()),
        "jti": secrets.token_urlsafe(18),
        "report": report,
    }
    return {"format": TYP_CREDIT_REPORT, "report": sign(claims, key, TYP_CREDIT_REPORT)}
