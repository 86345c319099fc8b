"""Tables for residents' own acts (issue 9): partners' consent requests and their callback
deliveries, personal statements (本人声明) and officers' look-ups with their stated purpose.

The scoring authorisation itself needs no table of its own: every grant and withdrawal is an
information record of the catalogue item ``scoring_authorisation`` (the resident's own channel or
the credit centre's counter), so the scoring core's eligibility check stays the one rule that
decides, and the record's history is the authorisation's history.

Every row about a person carries ``person_id`` (a foreign key to ``people``), which is how the
retention run finds and deletes them all.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from gateway.store.tables import Id, Json, Stamp, metadata

__all__ = ["callback_attempts", "consent_requests", "officer_lookups", "personal_statements"]

consent_requests = Table(
    "consent_requests",
    metadata,
    Column("id", String(64), primary_key=True),  # crq_ + 128 random bits: unguessable
    Column("partner_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("disclosure", String(8), nullable=False),
    Column("valid_days", Integer, nullable=False),
    Column("programme_id", String(64)),
    Column("callback_uri", String(512)),
    Column("state", String(256)),
    Column("status", String(16), nullable=False),  # pending → approved | declined (expired is derived)
    Column("created_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("answered_at", Stamp),
    Column("person_id", Id, ForeignKey("people.id"), index=True),
    Column("channel", String(16)),
    Column("notice_id", String(64)),
    Column("notice_version", String(16)),
    Column("consent_id", String(64)),
    Column("assertion", Text),
    Column("assertion_jti", String(128)),
)
Index("ix_consent_requests_partner_id", consent_requests.c.partner_id)

callback_attempts = Table(
    "callback_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Stamp, nullable=False),
    Column("http_status", Integer),
    Column("outcome", String(32), nullable=False),  # delivered | http_error | network_error
)

personal_statements = Table(
    "personal_statements",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("target_ref", String(64), nullable=False),  # r:<id> or p:<id>
    Column("statement", Text, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

officer_lookups = Table(
    "officer_lookups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("officer_id", String(128), nullable=False),
    Column("purpose", String(256), nullable=False),
    Column("case_ref", String(64), nullable=False),
    Column("answer", Json, nullable=False),
    Column("at", Stamp, nullable=False),
)
