"""Residents' consents to disclosure (measure 一(一), 三(二)).

A consent is the authorisation the measure requires before anything about a person is disclosed:
one audience (a partner of the registry), the purposes it may use the score for, the level of
disclosure (the tier only, or the score as well), the channel it was given through and an expiry
no more than a year ahead. The issuance service asks :func:`find_live_consent` before every
assertion, so a revocation takes effect for the next assertion at once. Grants and revocations
are written to the audit log under the person's internal id, never an ID number.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, insert, select, update

from gateway.clock import as_utc, utcnow
from gateway.errors import NotFound, ValidationFailed
from gateway.partners import Partner
from gateway.services.context import Gateway
from gateway.services.exchange.status_lists import revoke_consent_assertions
from gateway.services.operations.webhooks import enqueue_event
from gateway.services.publication.purposes import PURPOSE_CODES
from gateway.services.residents.authorisation import require_live_authorisation
from gateway.services.residents.notices import Notice, check_notice
from gateway.services.residents.resident_identity import Resident
from gateway.store import driver_sql
from gateway.store import people as people_store
from gateway.store.audit import append_audit
from gateway.store.engine import reader
from gateway.store.tables import consents, disclosures

__all__ = [
    "CHANNELS",
    "CONSENT_AUDIENCE_KINDS",
    "DEFAULT_VALID_DAYS",
    "DISCLOSURE_LEVELS",
    "MAX_VALID_DAYS",
    "PURPOSES",
    "ConsentInvalid",
    "ConsentNotFound",
    "ConsentRow",
    "DisclosureNotAllowed",
    "InvalidConsentExpiry",
    "PurposeNotAllowed",
    "UnknownAudience",
    "UnknownChannel",
    "UnknownPurpose",
    "consent_view",
    "find_live_consent",
    "grant_consent",
    "insert_consent",
    "list_consents",
    "partner_name",
    "revoke_consent",
]

PURPOSES: Final = frozenset(PURPOSE_CODES)  # the closed list of measure 三(三)
DISCLOSURE_LEVELS: Final = ("tier", "score")
# A consent to the score discloses the tier too; a consent to the tier never the score.
_COVERING: Final = {"tier": ("tier", "score"), "score": ("score",)}
CHANNELS: Final = frozenset({"app", "wechat", "kiosk"})  # the designated channels of 三(二)
CONSENT_AUDIENCE_KINDS: Final = frozenset({"city_platform", "financial_institution", "incentive_provider"})
DEFAULT_VALID_DAYS: Final = 180
MAX_VALID_DAYS: Final = 365


class ConsentInvalid(ValidationFailed):
    code = "consent_invalid"
    title = "The consent cannot be given as requested"


class UnknownAudience(ConsentInvalid):
    code = "unknown_audience"
    title = "The audience is not a partner that can receive disclosures"


class UnknownPurpose(ConsentInvalid):
    code = "unknown_purpose"
    title = "A purpose is not one of the purposes the gateway knows"


class PurposeNotAllowed(ConsentInvalid):
    code = "consent_purpose_not_allowed"
    title = "A purpose is not allowed for this audience"


class DisclosureNotAllowed(ConsentInvalid):
    code = "consent_disclosure_not_allowed"
    title = "The disclosure level is not allowed for this audience"


class UnknownChannel(ConsentInvalid):
    code = "unknown_channel"
    title = "The channel is not one of the designated query channels"


class InvalidConsentExpiry(ConsentInvalid):
    code = "invalid_consent_expiry"
    title = "The consent's expiry is not acceptable"


class ConsentNotFound(NotFound):
    code = "consent_not_found"
    title = "The consent does not exist"


@dataclass(frozen=True, slots=True)
class ConsentRow:
    id: str
    person_id: int
    audience: str
    purposes: tuple[str, ...]
    disclosure: str
    channel: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if now < self.expires_at else "expired"


def _row(row: Any) -> ConsentRow:
    return ConsentRow(
        id=row.id,
        person_id=row.person_id,
        audience=row.audience,
        purposes=tuple(row.purposes),
        disclosure=row.disclosure,
        channel=row.channel,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
    )


def partner_name(gw: Gateway, partner_id: str) -> dict[str, str] | None:
    """The registry's zh/en name of a partner, or ``None`` once it has left the registry."""
    partner = gw.partners.get(partner_id)
    return {"zh": partner.name_zh, "en": partner.name_en} if partner is not None else None


def consent_view(gw: Gateway, consent: ConsentRow, now: datetime | None = None) -> dict[str, Any]:
    """The resident-facing form of a consent (no person reference: it is always the caller's)."""
    return {
        "id": consent.id,
        "audience": consent.audience,
        "audience_name": partner_name(gw, consent.audience),
        "purposes": list(consent.purposes),
        "disclosure": consent.disclosure,
        "channel": consent.channel,
        "created_at": consent.created_at.isoformat(),
        "expires_at": consent.expires_at.isoformat(),
        "revoked_at": consent.revoked_at.isoformat() if consent.revoked_at else None,
        "status": consent.status(now or utcnow()),
    }


def _audience(gw: Gateway, audience: str) -> Partner:
    partner = gw.partners.enabled(audience)
    if partner is None or partner.kind not in CONSENT_AUDIENCE_KINDS:
        # The same words for unknown, disabled and collaborating units: none can receive a score.
        raise UnknownAudience("The audience is not an enabled partner that can receive disclosures.")
    return partner


def _purposes(partner: Partner, purposes: Sequence[str]) -> list[str]:
    chosen = set(purposes)
    if not chosen:
        raise UnknownPurpose("Name at least one purpose.", known_purposes=sorted(PURPOSES))
    if not chosen <= PURPOSES:
        # The unknown values are not echoed: they are free text the caller typed.
        raise UnknownPurpose("A purpose is not one the gateway knows.", known_purposes=sorted(PURPOSES))
    refused = chosen - partner.allowed_purposes
    if refused:
        raise PurposeNotAllowed(
            "The audience may not use the score for a requested purpose.",
            refused_purposes=sorted(refused),
            allowed_purposes=sorted(partner.allowed_purposes),
        )
    return sorted(chosen)


def _expiry(now: datetime, valid_days: int | None, expires_at: datetime | None) -> datetime:
    longest = now + timedelta(days=MAX_VALID_DAYS)
    if valid_days is not None and expires_at is not None:
        raise InvalidConsentExpiry("Give either valid_days or expires_at, not both.")
    if expires_at is None:
        days = DEFAULT_VALID_DAYS if valid_days is None else valid_days
        if isinstance(days, bool) or not 1 <= days <= MAX_VALID_DAYS:
            raise InvalidConsentExpiry(
                f"A consent is valid for 1 to {MAX_VALID_DAYS} days.", max_valid_days=MAX_VALID_DAYS
            )
        return now + timedelta(days=days)
    if expires_at.tzinfo is None:
        raise InvalidConsentExpiry("expires_at needs a time zone offset.")
    expires_at = expires_at.astimezone(UTC)
    if expires_at <= now:
        raise InvalidConsentExpiry("expires_at must lie in the future.")
    if expires_at > longest:
        raise InvalidConsentExpiry(f"A consent may last at most {MAX_VALID_DAYS} days.", max_valid_days=MAX_VALID_DAYS)
    return expires_at


def grant_consent(
    gw: Gateway,
    resident: Resident,
    *,
    audience: str,
    purposes: Sequence[str],
    disclosure: str = "tier",
    valid_days: int | None = None,
    expires_at: datetime | None = None,
    channel: str,
    notice_id: str | None = None,
    notice_version: str | None = None,
) -> dict[str, Any]:
    """Record the resident's consent to disclose to ``audience`` for ``purposes``.

    Without ``valid_days`` and ``expires_at`` the consent lasts 180 days; never more than 365.
    The disclosure notice shown (PIPL Art. 23) is recorded with the grant: the newest one unless named.

    :raises ConsentInvalid: (422) a subclass naming what is wrong.
    :raises NoticeVersionUnknown: (422) the notice named is not a published disclosure notice.
    :raises AuthorisationMissing: (409) the resident has no live scoring authorisation (issue 9).
    """
    partner = _audience(gw, audience)
    chosen = _purposes(partner, purposes)
    if disclosure not in DISCLOSURE_LEVELS:
        raise DisclosureNotAllowed("The disclosure level is 'tier' or 'score'.")
    if disclosure not in partner.allowed_disclosure:
        raise DisclosureNotAllowed(
            "The audience may not receive this level of disclosure.",
            allowed_disclosure=sorted(partner.allowed_disclosure),
        )
    if channel not in CHANNELS:
        raise UnknownChannel("The channel is app, wechat or kiosk.", channels=sorted(CHANNELS))
    notice = check_notice("disclosure", notice_id, notice_version)
    now = utcnow()
    until = _expiry(now, valid_days, expires_at)
    new_person = people_store.NewPerson(resident.id_hash, resident.name_hash, resident.name_masked, resident.birth_date)
    with gw.engine.begin() as conn:
        person = people_store.ensure_people(conn, [new_person])[resident.id_hash]
        # Nothing is disclosed about a person who has not authorised scoring (measure 一(一)); the
        # lock makes a withdrawal racing this grant wait (the rollback undoes the person row too).
        people_store.lock_people(conn, [person.id])
        require_live_authorisation(conn, person.id)
        consent = insert_consent(
            conn,
            person_id=person.id,
            partner=partner,
            purposes=chosen,
            disclosure=disclosure,
            channel=channel,
            now=now,
            until=until,
            notice=notice,
        )
    return consent_view(gw, consent, now)


def list_consents(gw: Gateway, resident: Resident) -> list[dict[str, Any]]:
    """Every consent the resident ever gave, active, expired or revoked, newest first."""
    with reader(gw.engine).connect() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            return []
        rows = conn.execute(
            select(consents)
            .where(consents.c.person_id == person.id)
            .order_by(consents.c.created_at.desc(), consents.c.id)
        ).all()
    now = utcnow()
    return [consent_view(gw, _row(r), now) for r in rows]


def revoke_consent(gw: Gateway, resident: Resident, consent_id: str) -> dict[str, Any]:
    """Revoke one of the resident's consents; revoking a revoked consent changes nothing.

    :raises ConsentNotFound: (404) no such consent of this resident — another person's consent
        gets the same answer as one that does not exist.
    """
    now = utcnow()
    with gw.engine.begin() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        if person is None:
            raise ConsentNotFound("You have no consent with this id.")
        mine = (consents.c.id == consent_id) & (consents.c.person_id == person.id)
        changed = conn.execute(
            update(consents).where(mine, consents.c.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount
        row = conn.execute(select(consents).where(mine)).first()
        if row is None:
            raise ConsentNotFound("You have no consent with this id.")
        if changed:
            # Revocation reaches assertions already issued, not only the next one (status list INVALID).
            revoked = revoke_consent_assertions(conn, consent_id, now=now)
            append_audit(
                conn,
                actor_type="resident",
                actor_id=str(person.id),
                action="consent.revoke",
                target_type="consent",
                target_ref=consent_id,
                details={"audience": row.audience, "assertions_revoked": revoked},
            )
            # issue 13: the partner hears of it by webhook, committed with the revocation.
            enqueue_event(
                conn, row.audience, "consent.revoked", {"consent": consent_id, "revoked_at": int(now.timestamp())}
            )
            if revoked:
                jtis = (
                    conn.execute(
                        select(disclosures.c.jti).where(
                            disclosures.c.consent_id == consent_id, disclosures.c.expires_at > now
                        )
                    )
                    .scalars()
                    .all()
                )
                enqueue_event(conn, row.audience, "assertion.revoked", {"consent": consent_id, "jtis": list(jtis)})
    return consent_view(gw, _row(row), now)


def _live_consents_sql(levels: tuple[str, ...], for_update: bool) -> str:
    covering = " OR ".join("disclosure = ?" for _ in levels)  # placeholders only, no values
    sql = (
        "SELECT id, person_id, audience, purposes, disclosure, channel, created_at, expires_at, revoked_at "  # noqa: S608
        f"FROM consents WHERE person_id = ? AND audience = ? AND ({covering}) AND revoked_at IS NULL "
        "AND expires_at > ? ORDER BY created_at DESC, id"
    )
    return sql + " FOR UPDATE" if for_update else sql


# Built once per disclosure level (every issuance runs one) and sent on the driver's cursor: under
# issue 12's profile SQLAlchemy's execution path cost more than the lookup itself. SQLite ignores
# the lock (BEGIN IMMEDIATE already serialises writers), so it gets the plain statement.
_LIVE_CONSENTS: Final = {
    (disclosure, for_update): _live_consents_sql(levels, for_update)
    for disclosure, levels in _COVERING.items()
    for for_update in (False, True)
}


def find_live_consent(
    conn: Connection,
    *,
    person_id: int,
    audience: str,
    purpose: str,
    disclosure: str,
    now: datetime,
    for_update: bool = False,
) -> ConsentRow | None:
    """The person's newest live consent covering ``audience``, ``purpose`` and ``disclosure``.

    Live means not revoked and not expired at ``now``; a consent to ``score`` also covers ``tier``.
    With ``for_update`` the matching rows are locked on PostgreSQL, so a revocation racing an
    issuance waits for it (and an issuance after a committed revocation sees it).
    """
    levels = _COVERING.get(disclosure)
    if levels is None:
        return None
    now = as_utc(now)
    sql = _LIVE_CONSENTS[(disclosure, for_update and conn.dialect.name == "postgresql")]
    rows = driver_sql.query(conn, sql, (person_id, audience, *levels, driver_sql.stamp(conn, now)))
    for cid, pid, aud, purposes, level, channel, created_at, expires_at, revoked_at in rows:
        row = ConsentRow(
            id=cid,
            person_id=pid,
            audience=aud,
            purposes=tuple(driver_sql.read_json(purposes)),
            disclosure=level,
            channel=channel,
            created_at=as_utc(driver_sql.read_stamp(created_at)),
            expires_at=as_utc(driver_sql.read_stamp(expires_at)),
            revoked_at=as_utc(driver_sql.read_stamp(revoked_at)) if revoked_at is not None else None,
        )
        # The expiry is checked again on aware values: the SQL comparison is the fast filter.
        if purpose in row.purposes and row.expires_at > now:
            return row
    return None


def insert_consent(
    conn: Connection,
    *,
    person_id: int,
    partner: Partner,
    purposes: Sequence[str],
    disclosure: str,
    channel: str,
    now: datetime,
    until: datetime,
    notice: Notice,
    request_id: str | None = None,
) -> ConsentRow:
    """Write one consent and its audit entry in the caller's transaction (checked arguments only:
    :func:`grant_consent` and the approval of a partner's consent request both end here)."""
    consent = ConsentRow(
        id="cns_" + secrets.token_urlsafe(16),
        person_id=person_id,
        audience=partner.id,
        purposes=tuple(purposes),
        disclosure=disclosure,
        channel=channel,
        created_at=now,
        expires_at=until,
        revoked_at=None,
    )
    conn.execute(
        insert(consents).values(
            id=consent.id,
            person_id=person_id,
            audience=partner.id,
            purposes=list(purposes),
            disclosure=disclosure,
            channel=channel,
            created_at=now,
            expires_at=until,
        )
    )
    details: dict[str, Any] = {
        "audience": partner.id,
        "purposes": list(purposes),
        "disclosure": disclosure,
        "channel": channel,
        "expires_at": until.isoformat(),
        "notice": notice.ref(),
    }
    if request_id is not None:
        details["consent_request"] = request_id
    append_audit(
        conn,
        actor_type="resident",
        actor_id=str(person_id),
        action="consent.grant",
        target_type="consent",
        target_ref=consent.id,
        details=details,
    )
    return consent
