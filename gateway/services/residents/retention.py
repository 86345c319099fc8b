"""Deleting what the gateway may no longer keep (PIPL Art. 47; measure 一(一), 四(三)).

Two rules, run by ``gateway retention run`` and by the nightly ``gateway recompute``:

* After a withdrawal of the scoring authorisation, once ``GATEWAY_RETENTION_AFTER_WITHDRAWAL_DAYS``
  (default 30, so that a pending objection can finish) have passed since the gateway recorded it,
  and no re-grant came in between, everything about the person is deleted.
* Records about people who never authorised (units push what the provincial platform holds) are
  quarantined — never scored, never shown to officers or partners — and deleted once they are
  ``GATEWAY_UNAUTHORISED_RETENTION_DAYS`` (default 180) old; the person row goes with the last one.

Deleted means gone: every row of every table that refers to the person (found generically through
the ``person_id`` foreign keys, so tables added later are covered), their disclosure log (keyed by
the ID number's keyed hash), the recognitions and eligibility decisions made on their assertions,
and finally the ``people`` row with the keyed hashes. Two things stay, by design: the append-only
audit log (its rows name people only by the internal number, which identifies no one once the
``people`` row is gone), and status-list slots of revoked assertions that have not expired yet (a
random ``jti`` and a bit that must keep saying "revoked" until the token expires). What was deleted
is counted in one audit entry, with no personal data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, select

from gateway.clock import as_utc, utcnow
from gateway.scoring import RecordInput
from gateway.scoring.eligibility import AUTHORISATION_ITEM, latest_record
from gateway.services.context import Gateway
from gateway.services.operations.webhooks import purge_finished
from gateway.services.rights.evidence import delete_evidence_of
from gateway.store.audit import append_audit
from gateway.store.tables import (
    disclosures,
    eligibility_decisions,
    information_records,
    metadata,
    people,
    provincial_evaluations,
    recognitions,
    status_slots,
)
from gateway.store.tables_residents import callback_attempts, consent_requests
from gateway.store.tables_web import web_sessions

__all__ = ["RetentionReport", "delete_people", "run_retention"]

_CHUNK = 500


@dataclass(slots=True)
class RetentionReport:
    withdrawn_people_deleted: int = 0
    unauthorised_records_deleted: int = 0
    unauthorised_people_deleted: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    evidence_files_deleted: int = 0
    webhook_events_deleted: int = 0
    # The keyed hashes of the people deleted: needed to find their evidence files, never reported.
    deleted_keys: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "withdrawn_people_deleted": self.withdrawn_people_deleted,
            "unauthorised_records_deleted": self.unauthorised_records_deleted,
            "unauthorised_people_deleted": self.unauthorised_people_deleted,
            "rows_deleted": dict(sorted(self.rows_deleted.items())),
            "evidence_files_deleted": self.evidence_files_deleted,
            "webhook_events_deleted": self.webhook_events_deleted,
        }


def _person_tables() -> list[Table]:
    """Every table with a ``person_id`` foreign key to ``people``, children before parents."""
    out = []
    for table in reversed(metadata.sorted_tables):
        col = table.c.get("person_id")
        if col is not None and any(fk.column.table is people for fk in col.foreign_keys):
            out.append(table)
    return out


def _count(report: RetentionReport, table: str, n: int) -> None:
    if n:
        report.rows_deleted[table] = report.rows_deleted.get(table, 0) + n


def delete_people(conn: Connection, person_ids: Iterable[int], report: RetentionReport, *, now: datetime) -> int:
    """Delete everything about the people, in the caller's transaction. Returns people deleted."""
    ids = sorted(set(person_ids))
    deleted = 0
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        keys = [k for (k,) in conn.execute(select(people.c.id_hash).where(people.c.id.in_(chunk)))]
        report.deleted_keys.extend(keys)
        jtis = [j for (j,) in conn.execute(select(disclosures.c.jti).where(disclosures.c.person_key.in_(keys)))]
        for j in range(0, len(jtis), _CHUNK):
            part = jtis[j : j + _CHUNK]
            for table in (recognitions, eligibility_decisions):
                _count(report, table.name, conn.execute(delete(table).where(table.c.assertion_jti.in_(part))).rowcount)
            # A slot still live must keep saying "revoked" until its token expires (no index reuse).
            gone = delete(status_slots).where(status_slots.c.jti.in_(part), status_slots.c.expires_at <= now)
            _count(report, status_slots.name, conn.execute(gone).rowcount)
        logged = conn.execute(delete(disclosures).where(disclosures.c.person_key.in_(keys)))
        _count(report, disclosures.name, logged.rowcount)
        # A resident's page session names them by keyed hash: it ends with them (issue 11).
        signed_in = delete(web_sessions).where(web_sessions.c.kind == "resident", web_sessions.c.subject.in_(keys))
        _count(report, web_sessions.name, conn.execute(signed_in).rowcount)
        # Delivery attempts name only the request: they go with the person's requests.
        theirs = select(consent_requests.c.id).where(consent_requests.c.person_id.in_(chunk))
        tried = conn.execute(delete(callback_attempts).where(callback_attempts.c.request_id.in_(theirs)))
        _count(report, callback_attempts.name, tried.rowcount)
        for table in _person_tables():
            _count(report, table.name, conn.execute(delete(table).where(table.c.person_id.in_(chunk))).rowcount)
        n = conn.execute(delete(people).where(people.c.id.in_(chunk))).rowcount
        _count(report, people.name, n)
        deleted += n
    return deleted


def _authorisations(conn: Connection) -> dict[int, list[tuple[RecordInput, datetime]]]:
    t = information_records
    rows = conn.execute(
        select(t.c.id, t.c.person_id, t.c.occurred_at, t.c.value_code, t.c.received_at).where(
            t.c.item_code == AUTHORISATION_ITEM, t.c.status == "valid"
        )
    ).all()
    out: dict[int, list[tuple[RecordInput, datetime]]] = defaultdict(list)
    for r in rows:
        record = RecordInput(f"r:{r.id}", AUTHORISATION_ITEM, "valid", r.occurred_at, None, r.value_code)
        out[r.person_id].append((record, as_utc(r.received_at)))
    return out


def run_retention(gw: Gateway, *, now: datetime | None = None, actor: str = "retention") -> RetentionReport:
    """Apply both rules once, in one transaction, and audit the counts."""
    now = now or utcnow()
    withdrawn_before = now - timedelta(days=gw.settings.retention_after_withdrawal_days)
    unauthorised_before = now - timedelta(days=gw.settings.unauthorised_retention_days)
    report = RetentionReport()
    with gw.engine.begin() as conn:
        auths = _authorisations(conn)
        expired_withdrawals: list[int] = []
        for pid, entries in auths.items():
            latest = latest_record([rec for rec, _ in entries])
            received = next(at for rec, at in entries if latest is not None and rec.ref == latest.ref)
            if latest is not None and latest.code == "withdrawn" and received <= withdrawn_before:
                expired_withdrawals.append(pid)
        report.withdrawn_people_deleted = delete_people(conn, expired_withdrawals, report, now=now)

        # Quarantined records: about people with no grant at all, older than the limit. Set-based, so
        # the nightly run never loads the (mostly authorised) old records into memory.
        t = information_records
        granted = select(t.c.person_id).where(
            t.c.item_code == AUTHORISATION_ITEM, t.c.value_code == "granted", t.c.status == "valid"
        )
        for table in (information_records, provincial_evaluations):
            n = conn.execute(
                delete(table).where(table.c.received_at <= unauthorised_before, table.c.person_id.not_in(granted))
            ).rowcount
            report.unauthorised_records_deleted += n
            _count(report, table.name, n)
        # The person goes with their last quarantined record (once old enough themself).
        holding = select(information_records.c.person_id).union(select(provincial_evaluations.c.person_id))
        empty = [
            pid
            for (pid,) in conn.execute(
                select(people.c.id).where(people.c.created_at <= unauthorised_before, people.c.id.not_in(holding))
            )
        ]
        report.unauthorised_people_deleted = delete_people(conn, empty, report, now=now)
        # Objection evidence is shared rows (by SHA-256, one owner row per uploader): the person's
        # owner rows go, and a file goes with its last owner, in this same transaction.
        report.evidence_files_deleted = delete_evidence_of(conn, report.deleted_keys)
        # Webhook events that are over: the outbox is a queue, not an archive (the audit log is one).
        report.webhook_events_deleted = purge_finished(
            conn, before=now - timedelta(days=gw.settings.webhook_retention_days)
        )
        append_audit(
            conn,
            actor_type="system",
            actor_id=actor,
            action="retention.run",
            target_type="retention",
            target_ref=now.date().isoformat(),
            details=report.as_dict(),
        )
    return report
