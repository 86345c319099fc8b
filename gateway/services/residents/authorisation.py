"""The scoring authorisation, given and withdrawn by the resident (measure 一(一); PIPL Art. 14, 15, 47).

The measure scores a person only after their real-name authentication and authorisation. The
resident gives it through a designated channel (app, WeChat, kiosk) with the real-name identity
provider's ID token, or in person at the credit centre's counter, where a credit officer records it
(officer name and case reference audited). The credit centre's ingestion item
``scoring_authorisation`` stays as that counter channel's record, pushed by ``sx-credit-center``:
an authorisation a resident gave in person, never one a unit invents.

Every grant and withdrawal is an information record of the item ``scoring_authorisation``, so the
scoring core's eligibility check — the latest counting record decides — is the single rule about
who may have a score, whatever the channel. Grant scores the person at once from the records
already held. Withdrawal, in one transaction: the score is withdrawn (reason
``authorisation_withdrawn``), every disclosure consent ends, every live assertion is revoked in the
status list, and the retention run deletes the person's records once
``GATEWAY_RETENTION_AFTER_WITHDRAWAL_DAYS`` have passed; a re-grant inside that window restores the
score without re-ingestion.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, insert, select, update

from gateway.clock import CHINA_STANDARD_TIME, as_utc, utcnow
from gateway.errors import AuthorisationMissing
from gateway.exchange import Status
from gateway.scoring import RecordInput
from gateway.scoring.eligibility import AUTHORISATION_ITEM, latest_record
from gateway.services.context import Gateway
from gateway.services.residents.notices import Notice, check_notice
from gateway.services.residents.resident_identity import Resident
from gateway.services.scores.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.audit import append_audit
from gateway.store.tables import consents, disclosures, information_records, people, status_slots
from gateway.store.tables_credential import credentials

__all__ = [
    "COUNTER_UNIT",
    "RESIDENT_CHANNELS",
    "RESIDENT_UNIT",
    "AuthorisationState",
    "authorisation_state",
    "authorisation_view",
    "end_disclosures",
    "grant_authorisation",
    "require_live_authorisation",
    "withdraw_authorisation",
]

RESIDENT_CHANNELS: Final = frozenset({"app", "wechat", "kiosk"})
# The pseudo-unit under which the resident's own grants and withdrawals are recorded.
RESIDENT_UNIT: Final = "resident"
# The counter channel: the credit centre records what a resident said in person.
COUNTER_UNIT: Final = "sx-credit-center"
_GRANTED: Final = "granted"
_WITHDRAWN: Final = "withdrawn"


@dataclass(frozen=True, slots=True)
class AuthorisationState:
    """What the authorisation records of one person say, as the eligibility check reads them."""

    live: bool
    ever_granted: bool
    last_decision: str | None
    last_channel: str | None
    last_received_at: datetime | None
    events: tuple[dict[str, Any], ...]

    def deletion_due(self, gw: Gateway) -> datetime | None:
        """When the retention run deletes the person's records after a withdrawal (None if not due)."""
        if self.last_decision != _WITHDRAWN or self.last_received_at is None:
            return None
        return self.last_received_at + timedelta(days=gw.settings.retention_after_withdrawal_days)


def _day(now: datetime) -> date:
    return now.astimezone(CHINA_STANDARD_TIME).date()


def authorisation_state(conn: Connection, person_id: int, *, now: datetime | None = None) -> AuthorisationState:
    """Read the person's authorisation records (counting ones only, as the scoring core does)."""
    t = information_records
    rows = conn.execute(
        select(t.c.id, t.c.unit_id, t.c.occurred_at, t.c.value_code, t.c.attributes, t.c.received_at, t.c.status)
        .where(t.c.person_id == person_id, t.c.item_code == AUTHORISATION_ITEM)
        .order_by(t.c.id)
    ).all()
    today = _day(now or utcnow())
    counting = [r for r in rows if r.status == "valid" and r.occurred_at <= today]
    inputs = [
        RecordInput(f"r:{r.id}", AUTHORISATION_ITEM, "valid", r.occurred_at, None, r.value_code) for r in counting
    ]
    latest = latest_record(inputs)
    last = next((r for r in counting if latest is not None and f"r:{r.id}" == latest.ref), None)
    events = tuple(
        {
            "ref": f"r:{r.id}",
            "decision": r.value_code,
            "channel": (r.attributes or {}).get("channel"),
            "notice": (r.attributes or {}).get("notice"),
            "recorded_by": r.unit_id,
            "occurred_at": r.occurred_at.isoformat(),
            "received_at": as_utc(r.received_at).isoformat(),
            "status": r.status,
        }
        for r in rows
    )
    return AuthorisationState(
        live=last is not None and last.value_code == _GRANTED,
        ever_granted=any(r.value_code == _GRANTED for r in counting),
        last_decision=last.value_code if last is not None else None,
        last_channel=(last.attributes or {}).get("channel") if last is not None else None,
        last_received_at=as_utc(last.received_at) if last is not None else None,
        events=events,
    )


def require_live_authorisation(conn: Connection, person_id: int | None) -> None:
    """:raises AuthorisationMissing: (409) the person has no live scoring authorisation."""
    if person_id is None or not authorisation_state(conn, person_id).live:
        raise AuthorisationMissing(
            "Authorise scoring first (POST /v1/me/authorisation): nothing is disclosed about a person "
            "who has not authorised scoring."
        )


def _record(
    conn: Connection,
    gw: Gateway,
    person_id: int,
    *,
    unit: str,
    decision: str,
    channel: str,
    notice: Notice | None,
    now: datetime,
) -> str:
    source_ref = "auth-" + secrets.token_urlsafe(12)
    attributes: dict[str, Any] = {"decision": decision, "channel": channel}
    if notice is not None:
        attributes["notice"] = notice.ref()
    result = conn.execute(
        insert(information_records)
        .values(
            person_id=person_id,
            unit_id=unit,
            source_ref=source_ref,
            item_code=AUTHORISATION_ITEM,
            catalogue_version=gw.catalogue.version,
            status="valid",
            occurred_at=_day(now),
            value_code=decision,
            attributes=attributes,
            received_at=now,
        )
        .returning(information_records.c.id)
    )
    return f"r:{result.scalar_one()}"


def end_disclosures(conn: Connection, person_ids: Iterable[int], *, now: datetime) -> tuple[int, int]:
    """A withdrawal's cascade: end every consent and revoke (INVALID) every live assertion and
    credit code of the people. Set-based, so ingestion can run it for a whole batch. Returns (consents, assertions)."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0, 0
    ended = conn.execute(
        update(consents)
        .where(consents.c.person_id.in_(ids), consents.c.revoked_at.is_(None), consents.c.expires_at > now)
        .values(revoked_at=now)
    ).rowcount
    keys = select(people.c.id_hash).where(people.c.id.in_(ids))
    live = select(disclosures.c.jti).where(disclosures.c.person_key.in_(keys), disclosures.c.expires_at > now)
    # The residents' credit codes (issue 10) are revoked with their assertions.
    held = select(credentials.c.id).where(credentials.c.person_id.in_(ids), credentials.c.expires_at > now)
    revoked = 0
    for jtis in (live, held):
        revoked += conn.execute(
            update(status_slots)
            .where(status_slots.c.jti.in_(jtis), status_slots.c.status != int(Status.INVALID))
            .values(status=int(Status.INVALID), updated_at=now)
        ).rowcount
    return ended, revoked


def _person(conn: Connection, resident: Resident) -> people_store.PersonRow:
    new = people_store.NewPerson(resident.id_hash, resident.name_hash, resident.name_masked, resident.birth_date)
    person = people_store.ensure_people(conn, [new])[resident.id_hash]
    people_store.lock_people(conn, [person.id])
    return person


def grant_authorisation(
    gw: Gateway,
    resident: Resident,
    *,
    channel: str,
    notice_id: str | None = None,
    notice_version: str | None = None,
    actor: tuple[str, str] | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record the resident's authorisation to be scored and score them at once.

    ``actor`` is (type, id) of whoever recorded it: the resident (default) or a credit officer at
    the counter (channel ``counter``). Granting while already live records nothing new.

    :raises NoticeVersionUnknown: (422) the notice named is not a published scoring notice.
    """
    notice = check_notice("scoring", notice_id, notice_version)
    now = now or utcnow()
    with gw.engine.begin() as conn:
        person = _person(conn, resident)
        state = authorisation_state(conn, person.id, now=now)
        if not state.live:
            unit = COUNTER_UNIT if channel == "counter" else RESIDENT_UNIT
            ref = _record(conn, gw, person.id, unit=unit, decision=_GRANTED, channel=channel, notice=notice, now=now)
            recompute_people(conn, gw, [person.id], trigger="authorisation", as_of=_day(now))
            actor_type, actor_id = actor or ("resident", str(person.id))
            append_audit(
                conn,
                actor_type=actor_type,
                actor_id=actor_id,
                action="authorisation.grant",
                target_type="person",
                target_ref=str(person.id),
                details={"record": ref, "channel": channel, "notice": notice.ref(), **(details or {})},
            )
        return _view(gw, conn, person.id, now)


def withdraw_authorisation(
    gw: Gateway,
    resident: Resident,
    *,
    channel: str,
    actor: tuple[str, str] | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Withdraw the authorisation: score withdrawn, consents ended, assertions revoked, records
    scheduled for deletion — all in one transaction. Withdrawing when nothing is live changes nothing.

    :raises AuthorisationMissing: (409) the gateway holds no live authorisation of this person.
    """
    now = now or utcnow()
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            raise AuthorisationMissing("There is no authorisation to withdraw.")
        people_store.lock_people(conn, [person.id])
        state = authorisation_state(conn, person.id, now=now)
        if not state.live:
            raise AuthorisationMissing("There is no live authorisation to withdraw.")
        unit = COUNTER_UNIT if channel == "counter" else RESIDENT_UNIT
        ref = _record(conn, gw, person.id, unit=unit, decision=_WITHDRAWN, channel=channel, notice=None, now=now)
        recompute_people(conn, gw, [person.id], trigger="authorisation_withdrawn", as_of=_day(now))
        ended, revoked = end_disclosures(conn, [person.id], now=now)
        actor_type, actor_id = actor or ("resident", str(person.id))
        append_audit(
            conn,
            actor_type=actor_type,
            actor_id=actor_id,
            action="authorisation.withdraw",
            target_type="person",
            target_ref=str(person.id),
            details={
                "record": ref,
                "channel": channel,
                "consents_ended": ended,
                "assertions_revoked": revoked,
                "delete_after_days": gw.settings.retention_after_withdrawal_days,
                **(details or {}),
            },
        )
        return _view(gw, conn, person.id, now)


def _view(gw: Gateway, conn: Connection, person_id: int, now: datetime) -> dict[str, Any]:
    state = authorisation_state(conn, person_id, now=now)
    current = scores_store.get_current(conn, person_id)
    due = state.deletion_due(gw)
    return {
        "status": "granted" if state.live else ("withdrawn" if state.last_decision == _WITHDRAWN else "none"),
        "channel": state.last_channel,
        "since": state.last_received_at.isoformat() if state.last_received_at else None,
        "records_deleted_after": due.isoformat() if due else None,
        "score": (
            {"status": "scored", "score": current.score, "tier": current.tier}
            if current is not None and current.eligible
            else {"status": "none", "reason": current.reason if current is not None else "not_yet_scored"}
        ),
        "events": list(state.events),
    }


def authorisation_view(gw: Gateway, resident: Resident, *, now: datetime | None = None) -> dict[str, Any]:
    """The resident's authorisation: status, channel, when, the deletion date after a withdrawal,
    the resulting score status and every grant and withdrawal recorded."""
    now = now or utcnow()
    with gw.engine.connect() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            return {
                "status": "none",
                "channel": None,
                "since": None,
                "records_deleted_after": None,
                "score": {"status": "none", "reason": "not_yet_scored"},
                "events": [],
            }
        return _view(gw, conn, person.id, now)
