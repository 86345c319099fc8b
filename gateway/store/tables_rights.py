"""Tables of residents' rights to the national standard (issue 14): working-day deadlines per
objection phase, checks by the supplying unit (协查), the assertions a dispute suspended, notes kept
with a record (征信业管理条例 Art. 25: the check and the objection are recorded with the record), and
residents' repair applications."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from gateway.store.tables import Id, Json, Stamp, metadata

__all__ = [
    "dispute_suspensions",
    "objection_deadlines",
    "record_notes",
    "repair_applications",
    "verification_requests",
]

# One row per time limit of an objection: accept, forward, unit_answer, final. ``met_at`` is set when
# the step is done; an open objection with an unmet row past ``due_at`` is overdue.
objection_deadlines = Table(
    "objection_deadlines",
    metadata,
    Column("objection_id", String(64), ForeignKey("objections.id"), primary_key=True),
    Column("phase", String(16), primary_key=True),
    Column("due_at", Stamp, nullable=False),
    Column("met_at", Stamp),
)
Index("ix_objection_deadlines_due", objection_deadlines.c.met_at, objection_deadlines.c.due_at)

# A 协查 request to the unit that supplied the disputed record. The unit sees only its own source_ref,
# the catalogue item and the date; never the person's name or ID number.
verification_requests = Table(
    "verification_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("objection_id", String(64), ForeignKey("objections.id"), nullable=False, index=True),
    Column("unit_id", String(64), nullable=False),
    Column("record_ref", String(64), nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("item_code", String(48), nullable=False),
    Column("question", Text, nullable=False),
    Column("state", String(16), nullable=False),  # open | answered | withdrawn
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", Stamp, nullable=False),
    Column("due_at", Stamp, nullable=False),
    Column("answer", String(16)),  # confirm | correct | cannot_confirm
    Column("answer_ref", String(64)),
    Column("answer_note", Text),
    Column("answered_at", Stamp),
)
Index("ix_verification_requests_unit_state", verification_requests.c.unit_id, verification_requests.c.state)

# The status-list slots an open objection set to SUSPENDED; released (back to VALID, or superseded by the
# rescoring) when the objection ends. Several objections may hold the same assertion.
dispute_suspensions = Table(
    "dispute_suspensions",
    metadata,
    Column("objection_id", String(64), ForeignKey("objections.id"), primary_key=True),
    Column("jti", String(128), primary_key=True),
    Column("suspended_at", Stamp, nullable=False),
    Column("released_at", Stamp),
)
Index("ix_dispute_suspensions_jti", dispute_suspensions.c.jti)

# What stays with a record after an objection that could not confirm it: the objection, the check,
# the written answer, and whether the record still counts (the office's setting at the time).
record_notes = Table(
    "record_notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("record_ref", String(64), nullable=False, index=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # objection_cannot_confirm
    Column("objection_id", String(64), nullable=False),
    Column("verification", Json),  # the unit's answer, when the record was checked by its unit
    Column("answer", Text, nullable=False),
    Column("counts", Boolean, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

# Credit repair applications by the resident (NDRC Order No. 58): submitted → approved | refused.
repair_applications = Table(
    "repair_applications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("record_ref", String(64), nullable=False),
    Column("statement", Text, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("state", String(16), nullable=False),
    Column("deadline", Stamp, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    Column("officer_id", String(64)),
    Column("decision_ref", String(64)),
    Column("answer", Text),
    Column("row_version", Integer, nullable=False),
)
Index("ix_repair_applications_state_deadline", repair_applications.c.state, repair_applications.c.deadline)
