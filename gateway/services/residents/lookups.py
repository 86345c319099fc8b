"""Officers' look-ups with their stated purpose, and residents' personal statements (本人声明).

PIPL Art. 45 and the measure's 三(二) and 四(三): a resident may see every look-up about them and
the answer given, and an officer may look a person up only for a stated purpose under a case
reference. A resident may attach a personal statement (at most 500 characters) to any record held
about them; officers see it beside the record, and the credit report shows it. Both are kept in
their own tables keyed by the person, so the retention run deletes them with everything else.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from gateway.clock import as_utc, utcnow
from gateway.errors import NotFound, ValidationFailed
from gateway.services.context import Gateway
from gateway.services.residents.resident_identity import Resident
from gateway.store import people as people_store
from gateway.store.audit import append_audit
from gateway.store.tables import information_records, provincial_evaluations
from gateway.store.tables_residents import officer_lookups, personal_statements

__all__ = [
    "MAX_STATEMENT_CHARS",
    "RecordNotFound",
    "StatementInvalid",
    "add_statement",
    "lookups_for",
    "record_officer_lookup",
    "statements_for",
]

MAX_STATEMENT_CHARS: Final = 500


class StatementInvalid(ValidationFailed):
    code = "statement_invalid"
    title = "The personal statement cannot be recorded"


class RecordNotFound(NotFound):
    code = "record_not_found"
    title = "You have no record with this reference"


def record_officer_lookup(
    conn: Connection,
    person_id: int,
    officer_id: str,
    *,
    purpose: str,
    case_ref: str,
    answer: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Keep one officer look-up about the person with the answer given (in the caller's transaction)."""
    conn.execute(
        insert(officer_lookups).values(
            person_id=person_id,
            officer_id=officer_id,
            purpose=purpose,
            case_ref=case_ref,
            answer=answer,
            at=now or utcnow(),
        )
    )


def lookups_for(conn: Connection, person_id: int) -> list[dict[str, Any]]:
    t = officer_lookups
    rows = conn.execute(select(t).where(t.c.person_id == person_id).order_by(t.c.at.desc(), t.c.id.desc())).all()
    return [
        {
            "officer": r.officer_id,
            "purpose": r.purpose,
            "case_ref": r.case_ref,
            "answer": r.answer,
            "at": as_utc(r.at).isoformat(),
        }
        for r in rows
    ]


def statements_for(conn: Connection, person_id: int) -> list[dict[str, Any]]:
    t = personal_statements
    rows = conn.execute(select(t).where(t.c.person_id == person_id).order_by(t.c.created_at, t.c.id)).all()
    return [
        {"id": r.id, "record": r.target_ref, "statement": r.statement, "created_at": as_utc(r.created_at).isoformat()}
        for r in rows
    ]


def _owns_record(conn: Connection, person_id: int, ref: str) -> bool:
    kind, _, raw = ref.partition(":")
    if kind not in ("r", "p") or not raw.isdigit() or len(raw) > 18:
        return False
    table = information_records if kind == "r" else provincial_evaluations
    found = conn.execute(select(table.c.id).where(table.c.id == int(raw), table.c.person_id == person_id)).first()
    return found is not None


def add_statement(gw: Gateway, resident: Resident, *, record: str, statement: str) -> dict[str, Any]:
    """Attach the resident's statement to one of their records (``r:<id>`` or ``p:<id>``).

    :raises StatementInvalid: (422) empty, or longer than 500 characters.
    :raises RecordNotFound: (404) no such record of this resident (another person's record gets
        the same answer as one that does not exist).
    """
    text = statement.strip()
    if not text or len(text) > MAX_STATEMENT_CHARS:
        raise StatementInvalid(
            f"A personal statement has 1 to {MAX_STATEMENT_CHARS} characters.", max_chars=MAX_STATEMENT_CHARS
        )
    now = utcnow()
    statement_id = "stm_" + secrets.token_urlsafe(12)
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None or not _owns_record(conn, person.id, record):
            raise RecordNotFound("You have no record with this reference.")
        conn.execute(
            insert(personal_statements).values(
                id=statement_id, person_id=person.id, target_ref=record, statement=text, created_at=now
            )
        )
        # The text itself stays out of the audit log (it may hold personal data); its length goes in.
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id),
            action="statement.add",
            target_type="record",
            target_ref=record,
            details={"statement": statement_id, "chars": len(text)},
        )
    return {"id": statement_id, "record": record, "statement": text, "created_at": now.isoformat()}
