"""Credit repair applications by the resident (信用修复申请; NDRC Order No. 58, measure 四(一)).

A resident applies, with evidence, to have one of their negative records repaired — only a record
whose catalogue item declares repair (``repair.allowed``) and only once the item's minimum time since
the event has passed. A credit officer decides within ``repair_decision_working_days``: approving
repairs the record exactly as an officer's repair does today (the record stops counting, the person
is rescored, outdated assertions are superseded, all in one transaction); refusing gives a written
answer. States: ``submitted`` → ``approved`` | ``refused``. Every transition is audited.

Refusals of the application itself (not your record, no such record) look alike, so the answer
never reveals whether someone else's record exists.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Final

from sqlalchemy import Connection, case, func, insert, select, update

from gateway.clock import as_utc, today_in_shaoxing, utcnow
from gateway.errors import Conflict, GatewayError, NotFound, ValidationFailed
from gateway.services.context import Gateway
from gateway.services.residents.me import PersonUnknown
from gateway.services.residents.resident_identity import Resident
from gateway.services.rights.calendar import limit_after, working_calendar
from gateway.services.rights.evidence import describe_evidence
from gateway.services.rights.repair import RecordRef, parse_record_ref, repair_record
from gateway.store import people as people_store
from gateway.store.audit import append_audit
from gateway.store.tables import information_records, people
from gateway.store.tables_rights import repair_applications

__all__ = [
    "RepairApplicationInvalid",
    "RepairApplicationNotFound",
    "RepairNotAllowed",
    "RepairTooEarly",
    "apply_for_repair",
    "decide_application",
    "my_applications",
    "repair_queue",
]

MAX_TEXT: Final = 2000
MAX_EVIDENCE: Final = 5
STATES: Final = ("submitted", "approved", "refused")


class RepairApplicationInvalid(ValidationFailed):
    code = "repair_application_invalid"
    title = "The repair application cannot be accepted as sent"


class RepairNotAllowed(ValidationFailed):
    code = "repair_not_allowed"
    title = "The catalogue allows no repair application for this kind of record"


class RepairTooEarly(ValidationFailed):
    code = "repair_too_early"
    title = "Too little time has passed since the event for a repair application"


class RepairApplicationNotFound(NotFound):
    code = "repair_application_not_found"
    title = "The repair application does not exist"


class RepairApplicationConflict(Conflict):
    code = "repair_application_conflict"
    title = "The repair application is not in a state that allows this"


class RepairApplicationPreconditionFailed(GatewayError):
    code = "repair_application_precondition_failed"
    title = "The repair application has changed since the version you hold"
    status: ClassVar[int] = 412


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= MAX_TEXT:
        raise RepairApplicationInvalid(f"The {what} has 1 to {MAX_TEXT} characters.", max_length=MAX_TEXT)
    return value


def _etag(row_version: int) -> str:
    return f'"r{row_version}"'


def _view(row: Any, now: datetime, *, officer: bool = False) -> dict[str, Any]:
    deadline = as_utc(row.deadline)
    view: dict[str, Any] = {
        "id": row.id,
        "record": row.record_ref,
        "statement": row.statement,
        "evidence": list(row.evidence),
        "state": row.state,
        "deadline": deadline.isoformat(),
        "overdue": row.state == "submitted" and deadline < now,
        "created_at": as_utc(row.created_at).isoformat(),
        "updated_at": as_utc(row.updated_at).isoformat(),
        "answer": row.answer,
        "decision_ref": row.decision_ref,
    }
    if officer:
        view |= {
            "person": {"ref": str(row.person_id), "name_masked": row.name_masked},
            "officer_id": row.officer_id,
            "row_version": row.row_version,
            "etag": _etag(row.row_version),
        }
    return view


def _occurred(conn: Connection, ref: RecordRef) -> date:
    column = ref.table.c.occurred_at if ref.table is information_records else ref.table.c.evaluated_on
    value = conn.execute(select(column).where(ref.table.c.id == ref.id)).scalar_one()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def apply_for_repair(
    gw: Gateway, resident: Resident, *, record: str, statement: str, evidence: list[str]
) -> dict[str, Any]:
    """File a repair application for one of the resident's records (``r:<id>`` from the breakdown).

    :raises RepairApplicationInvalid: (422) not one of the resident's records (the same answer as
        one that does not exist), or too many evidence files.
    :raises RepairNotAllowed: (422) the record's catalogue item declares no repair.
    :raises RepairTooEarly: (422) the item's minimum time since the event has not passed.
    :raises RepairApplicationConflict: (409) the record no longer counts, or an application is open.
    """
    statement = _text(statement, "statement")
    hashes = list(dict.fromkeys(evidence))
    if len(hashes) > MAX_EVIDENCE:
        raise RepairApplicationInvalid(f"An application names at most {MAX_EVIDENCE} evidence files.")
    files = [describe_evidence(gw, h, owner=resident.id_hash).as_dict() for h in hashes]
    try:
        ref = parse_record_ref(record)
    except NotFound:
        raise RepairApplicationInvalid("The record is not one of your records.") from None
    now = utcnow()
    deadline, _ = limit_after(working_calendar(gw.settings), now, gw.settings.repair_decision_working_days)
    application_id = "rep_" + secrets.token_urlsafe(12)
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            raise PersonUnknown("No collaborating unit has reported anything about you yet.")
        row = ref.load(conn)
        if row is None or row.person_id != person.id:
            raise RepairApplicationInvalid("The record is not one of your records.")
        item = gw.catalogue.item(row.item_code)
        if item is None or item.repair_min_days is None:
            raise RepairNotAllowed("Records of this kind cannot be repaired on application.", item=row.item_code)
        earliest = _occurred(conn, ref) + timedelta(days=item.repair_min_days)
        if today_in_shaoxing() < earliest:
            raise RepairTooEarly(
                "A repair application for this record is possible from the date given.",
                earliest=earliest.isoformat(),
                min_days_since_event=item.repair_min_days,
            )
        if row.status != "valid":
            raise RepairApplicationConflict("Only a record that counts can be repaired.", current_status=row.status)
        a = repair_applications
        if conn.execute(select(a.c.id).where(a.c.record_ref == str(ref), a.c.state == "submitted")).first():
            raise RepairApplicationConflict("An application for this record is already open.")
        conn.execute(
            insert(a).values(
                id=application_id,
                person_id=person.id,
                record_ref=str(ref),
                statement=statement,
                evidence=files,
                state="submitted",
                deadline=deadline,
                created_at=now,
                updated_at=now,
                row_version=1,
            )
        )
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id),
            action="repair_application.submit",
            target_type="repair_application",
            target_ref=application_id,
            details={"before": None, "after": "submitted", "record": str(ref), "evidence": hashes},
        )
        stored = conn.execute(select(a).where(a.c.id == application_id)).one()
    return _view(stored, now)


def my_applications(gw: Gateway, resident: Resident) -> list[dict[str, Any]]:
    a = repair_applications
    with gw.engine.connect() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            return []
        rows = conn.execute(select(a).where(a.c.person_id == person.id).order_by(a.c.created_at.desc(), a.c.id)).all()
    now = utcnow()
    return [_view(r, now) for r in rows]


def _officer_select() -> Any:
    a = repair_applications
    return select(a, people.c.name_masked).join(people, people.c.id == a.c.person_id)


def repair_queue(gw: Gateway, *, state: str = "submitted", limit: int = 100) -> dict[str, Any]:
    """The officers' queue of repair applications: overdue first, then by deadline."""
    if state not in (*STATES, "all"):
        raise RepairApplicationInvalid("Unknown queue filter.", filters=[*STATES, "all"])
    now = utcnow()
    a = repair_applications
    late = (a.c.state == "submitted") & (a.c.deadline < now)
    stmt = _officer_select().order_by(case((late, 0), else_=1), a.c.deadline, a.c.id)
    if state != "all":
        stmt = stmt.where(a.c.state == state)
    with gw.engine.connect() as conn:
        rows = conn.execute(stmt.limit(limit)).all()
        overdue = conn.execute(select(func.count()).select_from(a).where(late)).scalar_one()
    return {"overdue": overdue, "items": [_view(r, now, officer=True) for r in rows]}


def decide_application(
    gw: Gateway,
    officer_id: str,
    application_id: str,
    *,
    decision: str,
    answer: str,
    decision_ref: str | None = None,
    if_match: str | None = None,
) -> dict[str, Any]:
    """``submitted`` → ``approved`` (the record is repaired as by :func:`repair.repair_by_officer`,
    rescored and superseded in this transaction; needs ``decision_ref``) or ``refused``.

    :raises RepairApplicationNotFound: (404); :raises RepairApplicationConflict: (409) already decided;
    :raises RepairApplicationPreconditionFailed: (412) ``if_match`` names no current ETag.
    """
    if decision not in ("approved", "refused"):
        raise RepairApplicationInvalid("The decision is approved or refused.")
    answer = _text(answer, "answer")
    if decision == "approved" and not (decision_ref and decision_ref.strip()):
        raise RepairApplicationInvalid("Approving an application needs the repair decision's reference.")
    now = utcnow()
    a = repair_applications
    with gw.engine.begin() as conn:
        row = conn.execute(_officer_select().where(a.c.id == application_id).with_for_update(of=a)).first()
        if row is None:
            raise RepairApplicationNotFound("No repair application has this id.")
        if if_match is not None and _etag(row.row_version) not in [t.strip() for t in if_match.split(",")]:
            raise RepairApplicationPreconditionFailed(
                "The application changed since you read it; reload it.", current_etag=_etag(row.row_version)
            )
        if row.state != "submitted":
            raise RepairApplicationConflict("The application was decided already.", state=row.state)
        changed = conn.execute(
            update(a)
            .where(a.c.id == application_id, a.c.row_version == row.row_version)
            .values(
                state=decision,
                officer_id=officer_id,
                answer=answer,
                decision_ref=decision_ref if decision == "approved" else None,
                updated_at=now,
                row_version=row.row_version + 1,
            )
        ).rowcount
        if changed != 1:
            raise RepairApplicationConflict("Another officer decided the application meanwhile.")
        result: dict[str, Any] = {}
        if decision == "approved":
            assert decision_ref is not None
            _, _, score = repair_record(
                gw,
                conn,
                parse_record_ref(row.record_ref),
                actor_type="officer",
                actor_id=officer_id,
                decision_ref=decision_ref.strip(),
            )
            result = {
                "score": score.score if score else None,
                "tier": score.tier.code if score and score.tier else None,
            }
        append_audit(
            conn,
            actor_type="officer",
            actor_id=officer_id,
            action=f"repair_application.{decision}",
            target_type="repair_application",
            target_ref=application_id,
            details={"before": "submitted", "after": decision, "reason": answer, "decision_ref": decision_ref},
        )
        decided = conn.execute(_officer_select().where(a.c.id == application_id)).one()
    return {**_view(decided, now, officer=True), "result": result}
