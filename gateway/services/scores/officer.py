"""What the credit office's officers do: look up a person's score with its breakdown, and verify
or reject residents' self-reported honours, donations and volunteering. Every act is audited."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select, update

from gateway.errors import Conflict, NotFound
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway, utcnow
from gateway.services.residents.authorisation import authorisation_state
from gateway.services.residents.lookups import record_officer_lookup, statements_for
from gateway.services.rights.disputes import load_marks
from gateway.services.scores.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.audit import append_audit
from gateway.store.tables import information_records, provincial_evaluations

__all__ = ["decide_self_report", "score_view"]


def _record_details(conn: Any, refs: set[str]) -> dict[str, dict[str, Any]]:
    rec_ids = [int(r[2:]) for r in refs if r.startswith("r:")]
    pe_ids = [int(r[2:]) for r in refs if r.startswith("p:")]
    out: dict[str, dict[str, Any]] = {}
    if rec_ids:
        t = information_records
        for row in conn.execute(
            select(t.c.id, t.c.unit_id, t.c.source_ref, t.c.item_code, t.c.occurred_at, t.c.status).where(
                t.c.id.in_(rec_ids)
            )
        ):
            out[f"r:{row.id}"] = {
                "unit": row.unit_id,
                "source_ref": row.source_ref,
                "item": row.item_code,
                "occurred_at": row.occurred_at.isoformat(),
                "status": row.status,
            }
    if pe_ids:
        t = provincial_evaluations
        for row in conn.execute(
            select(t.c.id, t.c.unit_id, t.c.source_ref, t.c.evaluated_on, t.c.status).where(t.c.id.in_(pe_ids))
        ):
            out[f"p:{row.id}"] = {
                "unit": row.unit_id,
                "source_ref": row.source_ref,
                "item": "provincial_evaluation",
                "occurred_at": row.evaluated_on.isoformat(),
                "status": row.status,
            }
    return out


def score_view(
    gw: Gateway,
    officer_id: str,
    id_number: str,
    *,
    purpose: str,
    case_ref: str,
) -> dict[str, Any]:
    """The officer view of a person's current score: tier, breakdown, the records that counted and
    the resident's personal statements on them.

    Every look-up states its purpose and a case reference; both are audited and kept with the
    answer given, which the resident sees in their credit report (PIPL Art. 45; measure 四(三)).
    A person who never authorised scoring is not shown (their records are quarantined): the
    answer is the same 404 as for a person the gateway does not know.

    :raises InvalidResidentId: when the number breaks GB 11643.
    :raises NotFound: when the gateway holds no score for the person.
    """
    rid = parse_resident_id(id_number)
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, gw.hasher.id_hash(rid.normalised))
        current = scores_store.get_current(conn, person.id) if person else None
        shown = person is not None and current is not None and authorisation_state(conn, person.id).ever_granted
        if person is not None:
            answer: dict[str, Any] = (
                {"eligible": current.eligible, "reason": current.reason, "tier": current.tier, "score": current.score}
                if shown and current is not None
                else {"answer": "not_found"}
            )
            record_officer_lookup(conn, person.id, officer_id, purpose=purpose, case_ref=case_ref, answer=answer)
        if person is not None and current is not None and shown:
            history = scores_store.get_history_row(conn, current.score_id) or {}
            breakdown = list(history.get("breakdown") or [])
            refs = {ref for entry in breakdown for ref in entry["records"]}
            details = _record_details(conn, refs)
            statements = statements_for(conn, person.id)
            marks = load_marks(conn, [person.id])  # issue 14: disputed records and cannot-confirm notes
            append_audit(
                conn,
                actor_type="officer",
                actor_id=officer_id,
                action="score.view",
                target_type="person",
                target_ref=str(person.id),
                details={"score_id": current.score_id, "purpose": purpose, "case_ref": case_ref},
            )
    # A known person's refused look-up has committed above: it is still a look-up about them.
    if person is None or current is None or not shown:
        raise NotFound("The gateway holds no score for this person.")
    tier = next((t for t in gw.model.tiers if t.code == current.tier), None)
    view = {
        "person": {"ref": str(person.id), "name_masked": person.name_masked},
        "eligible": current.eligible,
        "reason": current.reason,
        "score": current.score,
        "max_score": 1000,
        "tier": ({"code": tier.code, "label": {"zh": tier.label_zh, "en": tier.label_en}} if tier else None),
        "model_version": current.model_version,
        "as_of": current.as_of.isoformat(),
        "computed_at": current.computed_at.isoformat(),
        "breakdown": [
            {**entry, "records": [{"ref": r, **details.get(r, {})} for r in entry["records"]]} for entry in breakdown
        ],
        "personal_statements": statements,
    }
    return marks.apply(view)


def decide_self_report(
    gw: Gateway, officer_id: str, record_id: int, decision: Literal["verified", "rejected"], reason: str
) -> dict[str, Any]:
    """Verify (the record starts to count) or reject a pending self-report, and rescore the person."""
    new_status = "valid" if decision == "verified" else "rejected"
    t = information_records
    with gw.engine.begin() as conn:
        row = conn.execute(select(t.c.person_id, t.c.status).where(t.c.id == record_id)).first()
        if row is None:
            raise NotFound("No record has this id.")
        if row.status != "pending":
            raise Conflict("Only a pending self-report can be verified or rejected.", current_status=row.status)
        people_store.lock_people(conn, [row.person_id])
        changed = conn.execute(
            update(t)
            .where(t.c.id == record_id, t.c.status == "pending")
            .values(status=new_status, status_changed_at=utcnow(), status_reason=reason)
        )
        if changed.rowcount != 1:
            # Another officer decided it between our read and our update.
            raise Conflict("The self-report was decided meanwhile.")
        results = recompute_people(conn, gw, [row.person_id], trigger="self_report_decision")
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action=f"self_report.{decision}",
            target_type="record",
            target_ref=f"r:{record_id}",
            details={"before": "pending", "after": new_status, "reason": reason},
        )
    score = results[0][1] if results else None
    return {"record": f"r:{record_id}", "status": new_status, "score": score.score if score else None}
