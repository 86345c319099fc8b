"""Partner-initiated consent requests: the partner asks, the resident answers with one tap
(measure 三(二): disclosure only with the person's consent; PIPL Art. 23: a separate consent that
names the recipient, its contact, the purpose, the method and the data).

A partner creates a request (purpose, level, duration, optional programme, optional registered
callback and ``state``) and shows the resident its link or QR code; it never sends an ID number.
The resident opens it with their ID token, reads the partner's names, contact, purpose, level,
duration and the disclosure notice, and approves or declines. A request is answered once, by one
resident, before it expires (10 minutes). Approval creates the consent and issues the assertion
under it in one transaction — a failure leaves neither. The partner gets the answer by polling or
by a signed ``consent-request-result+jwt`` POSTed to its registered callback (see
:mod:`gateway.services.residents.callbacks`); the assertion's ``sub`` is the pairwise id.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import Connection, select, update

from gateway.clock import as_utc, utcnow
from gateway.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gateway.partners import Partner
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import issue_under_consent
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.operations.webhooks import enqueue_event
from gateway.services.residents.authorisation import require_live_authorisation
from gateway.services.residents.consents import CONSENT_AUDIENCE_KINDS, PURPOSES, insert_consent, partner_name
from gateway.services.residents.notices import DISCLOSURE_NOTICE, check_notice, latest
from gateway.services.residents.resident_identity import Resident
from gateway.store import people as people_store
from gateway.store.audit import append_audit
from gateway.store.tables_residents import consent_requests

__all__ = [
    "REQUEST_LIFETIME",
    "CallbackNotRegistered",
    "ConsentRequestAnswered",
    "ConsentRequestExpired",
    "ConsentRequestInvalid",
    "ConsentRequestNotFound",
    "answer_request",
    "create_request",
    "partner_view",
    "request_exists",
    "resident_view",
]

REQUEST_LIFETIME: Final = timedelta(minutes=10)
MAX_VALID_DAYS: Final = 365


class ConsentRequestInvalid(ValidationFailed):
    code = "consent_request_invalid"
    title = "The consent request cannot be made as asked"


class CallbackNotRegistered(ValidationFailed):
    code = "callback_not_registered"
    title = "The callback URI is not one registered for the partner"


class ConsentRequestNotFound(NotFound):
    code = "consent_request_not_found"
    title = "No such consent request"


class ConsentRequestExpired(Conflict):
    code = "consent_request_expired"
    title = "The consent request has expired"
    status = 410


class ConsentRequestAnswered(Conflict):
    code = "consent_request_answered"
    title = "The consent request has already been answered"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _callback(gw: Gateway, partner: Partner, uri: str | None) -> str | None:
    if uri is None:
        return None
    registered = partner.document.get("callback_uris") or []
    parts = urlsplit(uri)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and gw.settings.development and _loopback(parts.hostname or "")
    )
    if uri not in registered or not secure:
        # The URI is not echoed: it is the caller's input.
        raise CallbackNotRegistered(
            "The callback URI must equal one registered in the partner's file (https; loopback http only in "
            "development)."
        )
    return uri


def create_request(
    gw: Gateway,
    principal: PartnerPrincipal,
    *,
    purpose: str,
    disclosure: str,
    valid_days: int,
    programme_id: str | None,
    callback_uri: str | None,
    state: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Create a pending request for the calling partner.

    :raises ConsentRequestInvalid: (422) purpose, level, duration or programme not acceptable.
    :raises CallbackNotRegistered: (422) the callback is not one of the partner's registered URIs.
    """
    partner = principal.partner
    if partner.kind not in CONSENT_AUDIENCE_KINDS:
        raise PermissionDenied("This kind of partner cannot receive disclosures.")
    if purpose not in PURPOSES or purpose not in principal.scopes or purpose not in partner.allowed_purposes:
        raise ConsentRequestInvalid("The purpose is not one this partner may use.", purposes=sorted(principal.scopes))
    if disclosure not in partner.allowed_disclosure:
        raise ConsentRequestInvalid("The partner may not receive this level of disclosure.")
    if isinstance(valid_days, bool) or not 1 <= valid_days <= MAX_VALID_DAYS:
        raise ConsentRequestInvalid(f"A consent lasts 1 to {MAX_VALID_DAYS} days.", max_valid_days=MAX_VALID_DAYS)
    if programme_id is not None:
        programme = gw.programmes.get(programme_id)
        if programme is None or programme.purpose != purpose:
            raise ConsentRequestInvalid("The programme is not a known programme for this purpose.")
    callback = _callback(gw, partner, callback_uri)
    now = now or utcnow()
    request_id = "crq_" + secrets.token_urlsafe(24)
    with gw.engine.begin() as conn:
        conn.execute(
            consent_requests.insert().values(
                id=request_id,
                partner_id=partner.id,
                purpose=purpose,
                disclosure=disclosure,
                valid_days=valid_days,
                programme_id=programme_id,
                callback_uri=callback,
                state=state,
                status="pending",
                created_at=now,
                expires_at=now + REQUEST_LIFETIME,
            )
        )
        append_audit(
            conn,
            actor_type="partner",
            actor_id=partner.id,
            action="consent_request.create",
            target_type="consent_request",
            target_ref=request_id,
            details={
                "purpose": purpose,
                "disclosure": disclosure,
                "valid_days": valid_days,
                "callback": bool(callback),
            },
        )
    base = gw.settings.issuer
    return {
        "request_id": request_id,
        "status": "pending",
        "expires_at": (now + REQUEST_LIFETIME).isoformat(),
        "links": {
            "web": f"{base}/consent-requests/{request_id}",
            "qr": {
                "svg": f"{base}/v1/consent-requests/{request_id}/qr.svg",
                "png": f"{base}/v1/consent-requests/{request_id}/qr.png",
            },
        },
    }


def _status(row: Any, now: datetime) -> str:
    if row.status == "pending" and as_utc(row.expires_at) <= now:
        return "expired"
    return str(row.status)


def _load(conn: Connection, request_id: str, *, for_update: bool = False) -> Any:
    stmt = select(consent_requests).where(consent_requests.c.id == request_id)
    if for_update:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


def request_exists(gw: Gateway, request_id: str) -> dict[str, Any]:
    """Who asks for what (no personal data: a request names no person until it is answered).

    :raises ConsentRequestNotFound: (404) no request has this id.
    """
    with gw.engine.connect() as conn:
        row = _load(conn, request_id)
    if row is None:
        raise ConsentRequestNotFound("There is no consent request with this id.")
    return {
        "partner_name": partner_name(gw, row.partner_id),
        "purpose": row.purpose,
        "disclosure": row.disclosure,
        "valid_days": row.valid_days,
        "status": _status(row, utcnow()),
    }


def partner_view(gw: Gateway, principal: PartnerPrincipal, request_id: str) -> dict[str, Any]:
    """What the partner polls: the status, its ``state`` and, once approved, the assertion.

    :raises ConsentRequestNotFound: (404) no such request of this partner (another partner's
        request gets the same answer).
    """
    now = utcnow()
    with gw.engine.connect() as conn:
        row = _load(conn, request_id)
    if row is None or row.partner_id != principal.partner.id:
        raise ConsentRequestNotFound("This partner has no consent request with this id.")
    return result_claims(row, now)


def result_claims(row: Any, now: datetime) -> dict[str, Any]:
    """The answer as the partner sees it (polling body and the callback's claims)."""
    out: dict[str, Any] = {
        "request_id": row.id,
        "status": _status(row, now),
        "state": row.state,
        "purpose": row.purpose,
        "disclosure": row.disclosure,
        "expires_at": as_utc(row.expires_at).isoformat(),
        "answered_at": as_utc(row.answered_at).isoformat() if row.answered_at else None,
    }
    if row.status == "approved" and row.assertion:
        out["consent"] = row.consent_id
        out["assertion"] = row.assertion
    return out


def _pending_for(conn: Connection, request_id: str, now: datetime, *, for_update: bool = False) -> Any:
    row = _load(conn, request_id, for_update=for_update)
    if row is None:
        raise ConsentRequestNotFound("There is no consent request with this id.")
    if row.status != "pending":
        raise ConsentRequestAnswered("The consent request has already been answered.")
    if as_utc(row.expires_at) <= now:
        raise ConsentRequestExpired("The consent request has expired; ask the partner for a new one.")
    return row


def resident_view(gw: Gateway, resident: Resident, request_id: str) -> dict[str, Any]:
    """What the resident reads before answering: who asks (names, contact), for what, at which
    level, for how long, under which programme, and the disclosure notice (PIPL Art. 17, 23).

    A request answered by someone else is not found (it is no longer theirs to see); one this
    resident answered shows its answer.
    """
    now = utcnow()
    with gw.engine.connect() as conn:
        row = _load(conn, request_id)
        person = people_store.find_person(conn, resident.id_hash)
    if row is None or (row.person_id is not None and (person is None or row.person_id != person.id)):
        raise ConsentRequestNotFound("There is no consent request with this id.")
    partner = gw.partners.get(row.partner_id)
    programme = gw.programmes.get(row.programme_id) if row.programme_id else None
    notice = latest(DISCLOSURE_NOTICE)
    return {
        "request_id": row.id,
        "status": _status(row, now),
        "partner": {
            "id": row.partner_id,
            "name": partner_name(gw, row.partner_id),
            "contact": partner.document.get("contact") if partner is not None else None,
        },
        "purpose": row.purpose,
        "disclosure": row.disclosure,
        "valid_days": row.valid_days,
        "programme": {"id": programme.id, "purpose": programme.purpose} if programme is not None else None,
        "expires_at": as_utc(row.expires_at).isoformat(),
        "notice": notice.document,
    }


def answer_request(
    gw: Gateway,
    resident: Resident,
    request_id: str,
    *,
    approve: bool,
    channel: str = "app",
    notice_id: str | None = None,
    notice_version: str | None = None,
) -> tuple[dict[str, Any], Any]:
    """Approve or decline. Approval: consent + assertion + the request's answer, one transaction.

    Returns the resident's view and the answered row (for the callback, sent after the commit).

    :raises ConsentRequestNotFound: (404), :raises ConsentRequestAnswered: (409),
    :raises ConsentRequestExpired: (410), :raises AuthorisationMissing: (409) on approval without a
        live scoring authorisation, :raises DisclosureRefused: (403) the person cannot be disclosed
        (e.g. not eligible) — nothing is written then.
    """
    notice = check_notice("disclosure", notice_id, notice_version)
    now = utcnow()
    key = gw.keyring.signing_key() if approve else None
    with gw.engine.begin() as conn:
        row = _pending_for(conn, request_id, now, for_update=True)
        values: dict[str, Any] = {"answered_at": now, "channel": channel}
        if approve:
            person = people_store.find_person(conn, resident.id_hash)
            # Locked before the check, so a withdrawal racing this approval waits for it (PostgreSQL).
            people_store.lock_people(conn, [person.id] if person is not None else [])
            require_live_authorisation(conn, person.id if person is not None else None)
            assert person is not None and key is not None  # require_live_authorisation raised otherwise
            partner = gw.partners.enabled(row.partner_id)
            if partner is None:
                raise ConsentRequestNotFound("There is no consent request with this id.")
            consent = insert_consent(
                conn,
                person_id=person.id,
                partner=partner,
                purposes=[row.purpose],
                disclosure=row.disclosure,
                channel=channel,
                now=now,
                until=now + timedelta(days=row.valid_days),
                notice=notice,
                request_id=row.id,
            )
            issued = issue_under_consent(
                conn,
                gw,
                partner,
                person_id=person.id,
                id_hash=resident.id_hash,
                consent=consent,
                purpose=row.purpose,
                disclosure=row.disclosure,
                key=key,
                now=now,
            )
            values.update(
                status="approved",
                person_id=person.id,
                consent_id=consent.id,
                assertion=issued.assertion,
                assertion_jti=issued.jti,
                notice_id=notice.id,
                notice_version=notice.version,
            )
        else:
            # A decline creates no person: the gateway learns nothing new about someone who said no.
            person = people_store.find_person(conn, resident.id_hash)
            values.update(status="declined", person_id=person.id if person is not None else None)
        # Only a still-pending row is answered: a racing answer makes this touch nothing (rollback).
        changed = conn.execute(
            update(consent_requests)
            .where(consent_requests.c.id == row.id, consent_requests.c.status == "pending")
            .values(**values)
        ).rowcount
        if changed != 1:
            raise ConsentRequestAnswered("The consent request has already been answered.")
        append_audit(
            conn,
            actor_type="resident",
            actor_id=str(person.id) if person is not None else "unknown",
            action="consent_request.approve" if approve else "consent_request.decline",
            target_type="consent_request",
            target_ref=row.id,
            details={"partner": row.partner_id, "channel": channel},
        )
        # The partner's webhook (issue 13) hears the answer too; the result itself is fetched or
        # arrives by the signed callback, so the event names the request and its status only.
        enqueue_event(conn, row.partner_id, "consent_request.answered", {"request": row.id, "status": values["status"]})
        answered = _load(conn, row.id)
    view = {
        "request_id": answered.id,
        "status": answered.status,
        "consent": answered.consent_id,
        "answered_at": as_utc(answered.answered_at).isoformat(),
    }
    return view, answered
