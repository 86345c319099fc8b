"""Issuing signed score assertions to partners (measure 一(一), 三(二): only with consent).

A partner names the person (ID number and name, for matching only), the purpose and the level
of disclosure. The gateway issues only when a live consent of that person covers this partner,
purpose and level, and the person is eligible with a current score. Every refusal that depends
on the person — unknown, name mismatch, no consent, ineligible — is the same 403, so the endpoint
cannot be used to learn who is registered. The assertion and its disclosure-log row commit in
one transaction.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection

from gateway.clock import as_utc, today_in_shaoxing, utcnow
from gateway.errors import PermissionDenied
from gateway.exchange import TYP_SCORE_ASSERTION, Status, sign
from gateway.exchange.keys import SigningKey
from gateway.exchange.tiers import UNRATED
from gateway.partners import Partner
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.operations.metrics import record_assertion_issued
from gateway.services.residents.consents import ConsentRow, find_live_consent
from gateway.services.rights.disputes import OPEN_STATES, suspend_new_assertion
from gateway.services.scores.scoring import recompute_people
from gateway.store import driver_sql
from gateway.store import people as people_store
from gateway.store import scores as scores_store

__all__ = [
    "COMMON_SCHEME",
    "JURISDICTION",
    "DisclosureLevelNotAllowed",
    "DisclosureRefused",
    "IdNumberLookupNotAllowed",
    "IssuedAssertion",
    "PurposeNotAllowed",
    "issue_assertion",
    "issue_assertion_admitted",
    "issue_under_consent",
    "local_scheme_id",
]

JURISDICTION = {"city": "330600", "province": "330000", "name": {"zh": "绍兴市", "en": "Shaoxing"}}
COMMON_SCHEME = "yrd-common/1"


class DisclosureRefused(PermissionDenied):
    code = "disclosure_refused"
    title = "No assertion can be issued for this request"


class PurposeNotAllowed(PermissionDenied):
    code = "purpose_not_allowed"
    title = "The purpose is not among the partner's allowed purposes"


class IdNumberLookupNotAllowed(PermissionDenied):
    code = "id_number_lookup_not_allowed"
    title = "This partner starts from a consent request, not from an ID number"


class DisclosureLevelNotAllowed(PermissionDenied):
    code = "disclosure_level_not_allowed"
    title = "The disclosure level is not allowed for this partner"


# On the driver's cursor, in the issuing transaction: SQLAlchemy's execution path cost more than
# SQLite's own work on this insert (issue 12).
_INSERT_DISCLOSURE = (
    "INSERT INTO disclosures (person_key, audience, purpose, disclosure, consent_id, jti, kid, tier, score_id, "
    "issued_at, expires_at, status_list, status_idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# PostgreSQL, one round trip instead of four (issue 12): count a place in the list this process is
# filling, take the slot, write the disclosure row, and count the person's open objections. Each part
# runs only if the one before it succeeded; what did not is done the long way (see _allocate_and_log).
_PG_ALLOCATE_AND_LOG = (
    "WITH take AS (UPDATE status_list_fill SET used = used + 1 WHERE list_id = ?::int AND stripe = ?::int "  # noqa: S608 - marks only
    "AND used < ?::int RETURNING used), "
    "slot AS (INSERT INTO status_slots (list_id, idx, jti, status, expires_at, updated_at) "
    "SELECT ?::int, ?::int, ?::text, ?::int, ?::timestamptz, ?::timestamptz FROM take "
    "ON CONFLICT (list_id, idx) DO NOTHING RETURNING idx), "
    "logged AS (INSERT INTO disclosures (person_key, audience, purpose, disclosure, consent_id, jti, kid, tier, "
    "score_id, issued_at, expires_at, status_list, status_idx) "
    "SELECT ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::bigint, ?::timestamptz, "
    "?::timestamptz, ?::int, idx FROM slot RETURNING 1) "
    "SELECT (SELECT count(*) FROM take), (SELECT count(*) FROM logged), "
    "(SELECT count(*) FROM objections WHERE person_id = ?::bigint AND state IN ("
    + ", ".join(["?::text"] * len(OPEN_STATES))
    + "))"
)

_REFUSAL = "No assertion can be issued: the person must be known, eligible, and have consented to this request."


@dataclass(frozen=True, slots=True)
class IssuedAssertion:
    assertion: str
    jti: str
    issued_at: datetime
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "assertion": self.assertion,
            "token_type": TYP_SCORE_ASSERTION,
            "jti": self.jti,
            "issued_at": int(self.issued_at.timestamp()),
            "expires_at": int(self.expires_at.timestamp()),
        }


def local_scheme_id(model_version: str) -> str:
    return f"sx-integrity/{model_version}"


def issue_assertion(
    gw: Gateway,
    principal: PartnerPrincipal,
    *,
    id_number: str,
    name: str,
    purpose: str,
    disclosure: str,
) -> IssuedAssertion:
    """Issue one assertion about the named person to the calling partner.

    :raises PurposeNotAllowed, DisclosureLevelNotAllowed: the partner's own limits (403).
    :raises InvalidResidentId: the number breaks GB 11643 (422; says nothing about the person).
    :raises DisclosureRefused: anything about the person prevents issuing (403, one wording).
    """
    partner = principal.partner
    if not partner.document.get("lookup_by_id_number", False):
        # Only partners the registry allows may name people by ID number (issue 9): the others ask
        # the resident through a consent request and never hold the number.
        raise IdNumberLookupNotAllowed("Start from a consent request (POST /v1/consent-requests).")
    if purpose not in principal.scopes:
        raise PurposeNotAllowed("The access token does not allow this purpose.")
    if disclosure not in partner.allowed_disclosure:
        raise DisclosureLevelNotAllowed("The partner may not receive this level of disclosure.")
    rid = parse_resident_id(id_number)
    id_hash = gw.hasher.id_hash(rid.normalised)
    name_hash = gw.hasher.name_hash(name)
    now = utcnow()
    # Before the transaction: on SQLite a key-table refresh inside it would wait for our own write lock.
    key = gw.keyring.signing_key()
    with gw.engine.begin() as conn:
        # Locked as it is read (PostgreSQL): rescoring paths lock the person too, and without it an
        # ingestion committing between our read of the current score and our commit would supersede
        # before our disclosure exists.
        person = people_store.find_person(conn, id_hash, lock=True)
        person_id = person.id if person is not None else -1
        # Every lookup runs whether or not the person exists, so refusals take similar paths.
        name_ok = person is not None and hmac.compare_digest(person.name_hash, name_hash)
        consent = find_live_consent(
            conn,
            person_id=person_id,
            audience=partner.id,
            purpose=purpose,
            disclosure=disclosure,
            now=now,
            for_update=True,
        )
        if not (name_ok and consent is not None):
            raise DisclosureRefused(_REFUSAL)
        issued = issue_under_consent(
            conn,
            gw,
            partner,
            person_id=person_id,
            id_hash=id_hash,
            consent=consent,
            purpose=purpose,
            disclosure=disclosure,
            key=key,
            now=now,
        )
    record_assertion_issued(partner.id, disclosure)  # issue 13
    return issued


def _allocate_and_log(
    conn: Connection, gw: Gateway, row: tuple[Any, ...], *, person_id: int, expires_at: datetime
) -> tuple[int, int, bool]:
    """Take a status slot and write the disclosure row ``row`` (without the slot's columns) in the
    caller's transaction: ``(list_id, idx, whether the person may have an open objection)``."""
    jti = row[5]
    guess = gw.status_lists.guess() if conn.dialect.name == "postgresql" else None
    if guess is not None:
        list_id, stripe, cap, idx = guess
        stamp = driver_sql.stamp(conn, utcnow())
        slot = (list_id, idx, jti, int(Status.VALID), row[10], stamp)
        found = driver_sql.execute(
            conn, _PG_ALLOCATE_AND_LOG, (list_id, stripe, cap, *slot, *row, list_id, person_id, *OPEN_STATES)
        )
        taken, logged, objections_open = found[0]
        if logged:
            return list_id, idx, bool(objections_open)
        # The stripe was full or the index taken (the statement wrote nothing else): the long way.
        if taken:
            list_id, idx = gw.status_lists.place_counted(conn, list_id, jti=jti, expires_at=expires_at)
        else:
            list_id, idx = gw.status_lists.allocate(conn, jti=jti, expires_at=expires_at)
    else:
        list_id, idx = gw.status_lists.allocate(conn, jti=jti, expires_at=expires_at)
    driver_sql.execute(conn, _INSERT_DISCLOSURE, (*row, list_id, idx))
    return list_id, idx, True


# At most this many issuances of one process run in threads at once; the rest wait on the event loop,
# where waiting costs nothing. 32 issuances in 32 threads queued for SQLite's one writer in threads
# that still took turns at the GIL (issue 12); on PostgreSQL the bound keeps them within the pool.
_IN_FLIGHT: Final = {"sqlite": 2, "postgresql": 8}
_ADMISSION: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _admission(gw: Gateway) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    found = _ADMISSION.get(loop)
    if found is None:
        found = _ADMISSION.setdefault(loop, asyncio.Semaphore(_IN_FLIGHT.get(gw.engine.dialect.name, 8)))
    return found


async def issue_assertion_admitted(
    gw: Gateway, principal: PartnerPrincipal, *, id_number: str, name: str, purpose: str, disclosure: str
) -> IssuedAssertion:
    """:func:`issue_assertion` in a worker thread, once one of this process's few places is free."""
    async with _admission(gw):
        return await asyncio.to_thread(
            issue_assertion, gw, principal, id_number=id_number, name=name, purpose=purpose, disclosure=disclosure
        )


def issue_under_consent(
    conn: Connection,
    gw: Gateway,
    partner: Partner,
    *,
    person_id: int,
    id_hash: str,
    consent: ConsentRow,
    purpose: str,
    disclosure: str,
    key: SigningKey,
    now: datetime,
) -> IssuedAssertion:
    """Sign one assertion about a known person under ``consent``, in the caller's transaction (the
    ID-number flow above and a resident's approval of a consent request both end here).

    :raises DisclosureRefused: the person has no current eligible score (403, the one wording).
    """
    current = scores_store.get_current(conn, person_id)
    if current is None:
        raise DisclosureRefused(_REFUSAL)
    if current.model_version != gw.model.version or current.as_of != today_in_shaoxing():
        # A score from an older model or an earlier day may no longer be true (records age out).
        recompute_people(conn, gw, [person_id], trigger="issuance")
        current = scores_store.get_current(conn, person_id)
    if current is None or not current.eligible or current.score is None or current.tier is None:
        raise DisclosureRefused(_REFUSAL)
    tier = next(t for t in gw.model.tiers if t.code == current.tier)
    scheme = local_scheme_id(current.model_version)
    crosswalk = gw.mappings.crosswalk_for(scheme)
    level = crosswalk.common_level(tier.code) if crosswalk else UNRATED
    lifetime = timedelta(seconds=gw.settings.assertion_lifetime)
    expires_at = min(now + lifetime, as_utc(consent.expires_at))
    jti = secrets.token_urlsafe(18)
    claims: dict[str, Any] = {
        "iss": gw.settings.issuer,
        "sub": gw.hasher.pairwise_subject(id_hash, partner.id),
        "aud": partner.id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
        "purpose": purpose,
        "tier": {
            "scheme": scheme,
            "code": tier.code,
            "label": {"zh": tier.label_zh, "en": tier.label_en},
        },
        "regional_tier": {
            "scheme": COMMON_SCHEME,
            "level": level,
            "crosswalk": {
                "id": crosswalk.id if crosswalk else "none",
                "version": str(crosswalk.version if crosswalk else 0),
            },
        },
        "score_as_of": int(as_utc(current.computed_at).timestamp()),
        "consent": consent.id,
        "jurisdiction": JURISDICTION,
    }
    # The status slot commits with the assertion, so every issued assertion can be revoked.
    row = (
        id_hash,
        partner.id,
        purpose,
        disclosure,
        consent.id,
        jti,
        key.kid,
        tier.code,
        current.score_id,
        driver_sql.stamp(conn, now),
        driver_sql.stamp(conn, expires_at),
    )
    list_id, idx, objections_open = _allocate_and_log(conn, gw, row, person_id=person_id, expires_at=expires_at)
    claims["status"] = {"status_list": {"idx": idx, "uri": gw.status_lists.uri(list_id)}}
    if disclosure == "score":
        claims["score"] = {"value": current.score, "max": 1000, "model": current.model_version}
    token = sign(claims, key, TYP_SCORE_ASSERTION)
    if objections_open:
        # Issue 14: an assertion issued while an objection disputes its tier is suspended at once.
        suspend_new_assertion(conn, person_id=person_id, jti=jti, score_id=current.score_id, now=now)
    return IssuedAssertion(assertion=token, jti=jti, issued_at=now, expires_at=expires_at)
