"""Online presentation of the credit code, verifier first (measure 三(二): disclosure only with the
person's own act — here, the resident choosing to answer a request with their wallet).

A partner (an incentive provider, a city platform, a bank) creates a request naming its purpose
and the claims it needs, or a programme whose threshold implies them; it gets a request id, a
nonce, an expiry (at most five minutes) and a QR code. The wallet fetches the request, presents
exactly those disclosures with a KB-JWT whose ``aud`` is the partner id and whose ``nonce`` is the
request's, and posts it to the response URL. The answer is accepted once: the state changes from
``pending`` to ``verified`` in one conditional update, so the nonce is single use across processes.
The partner polls and gets the verified disclosed claims (and, for a programme, a signed
eligibility decision). The request row keeps the person's id, so the resident's report lists it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import insert, select, update

from gateway.clock import as_utc, today_in_shaoxing, utcnow
from gateway.errors import (
    ClaimNotRequestable,
    PresentationRequestAnswered,
    PresentationRequestExpired,
    PresentationRequestNotFound,
)
from gateway.exchange import sign
from gateway.exchange.sd_jwt_vc import VerifiedPresentation
from gateway.services.context import Gateway
from gateway.services.credential.metadata import LEVELS, claim_paths
from gateway.services.credential.verification import gateway_verifier
from gateway.services.exchange.issuance import COMMON_SCHEME, PurposeNotAllowed
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.recognition.eligibility import (
    TYP_ELIGIBILITY_DECISION,
    NotADecidingPartner,
    ProgrammeNotFound,
    ProgrammeNotOffered,
)
from gateway.services.recognition.programmes import DECIDING_KINDS, Programme, evaluate
from gateway.services.residents.resident_identity import Resident
from gateway.store import people as people_store
from gateway.store.tables import eligibility_decisions
from gateway.store.tables_credential import credentials, presentation_requests

__all__ = [
    "PresentationRequest",
    "answer_request",
    "create_request",
    "decline_request",
    "poll_request",
    "presentations_of",
    "qr_content",
    "request_uri",
    "response_uri",
    "wallet_view",
]

MAX_CLAIMS: Final = 12


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    id: str
    verifier: str
    purpose: str
    claims: list[str]
    programme_id: str | None
    nonce: str
    expires_at: int


def request_uri(gw: Gateway, request_id: str) -> str:
    return f"{gw.settings.issuer}/v1/presentation-requests/{request_id}/request"


def response_uri(gw: Gateway, request_id: str) -> str:
    return f"{gw.settings.issuer}/v1/presentation-requests/{request_id}/response"


def qr_content(gw: Gateway, req: PresentationRequest) -> str:
    """What the QR code holds: an OpenID4VP-style link naming the verifier and the request URL."""
    return f"openid4vp://?client_id={req.verifier}&request_uri={request_uri(gw, req.id)}"


def _programme_claims(programme: Programme) -> list[str]:
    if programme.basis != "common_level" or programme.scheme != COMMON_SCHEME:
        raise ClaimNotRequestable(
            "Only programmes whose rule is on the common scheme can be decided from a credit code.",
            programme=programme.id,
        )
    return sorted({f"level_at_least.{g.min_level}" for g in programme.grants if g.min_level in LEVELS})


def create_request(
    gw: Gateway, principal: PartnerPrincipal, *, purpose: str | None, claims: list[str], programme_id: str | None
) -> PresentationRequest:
    """:raises PurposeNotAllowed, ProgrammeNotFound, ProgrammeNotOffered, NotADecidingPartner,
    ClaimNotRequestable: the request asks for more than this partner may (nothing beyond it is
    ever requested of a wallet)."""
    partner = principal.partner
    if programme_id is not None:
        if partner.kind not in DECIDING_KINDS:
            raise NotADecidingPartner("Only financial institutions and incentive providers ask for decisions.")
        programme = gw.programmes.get(programme_id)
        if programme is None:
            raise ProgrammeNotFound("No programme has this id.")
        if not programme.offered_to(partner.id):
            raise ProgrammeNotOffered("The calling partner does not run this programme.")
        purpose = programme.purpose
        claims = sorted(set(claims) | set(_programme_claims(programme)))
    if purpose is None or purpose not in principal.scopes:
        raise PurposeNotAllowed("The access token does not allow this purpose.")
    known = set(claim_paths())
    unknown = sorted(set(claims) - known)
    if unknown or not claims or len(claims) > MAX_CLAIMS:
        raise ClaimNotRequestable("Name one or more claims of the credit code.", claims=unknown[:MAX_CLAIMS])
    if "score" in claims and "score" not in partner.allowed_disclosure:
        raise ClaimNotRequestable("This partner may not receive the score.", claims=["score"])
    now = utcnow()
    expires_at = now + timedelta(seconds=gw.settings.presentation_request_lifetime)
    req = PresentationRequest(
        id="prq_" + secrets.token_urlsafe(18),
        verifier=partner.id,
        purpose=purpose,
        claims=sorted(set(claims)),
        programme_id=programme_id,
        nonce=secrets.token_urlsafe(24),
        expires_at=int(expires_at.timestamp()),
    )
    with gw.engine.begin() as conn:
        conn.execute(
            insert(presentation_requests).values(
                id=req.id,
                verifier=req.verifier,
                purpose=req.purpose,
                claims=req.claims,
                programme_id=programme_id,
                nonce=req.nonce,
                created_at=now,
                expires_at=expires_at,
                state="pending",
            )
        )
    return req


def _load(gw: Gateway, request_id: str) -> dict[str, Any]:
    with gw.engine.connect() as conn:
        row = conn.execute(select(presentation_requests).where(presentation_requests.c.id == request_id)).first()
        conn.rollback()
    if row is None:
        raise PresentationRequestNotFound("No presentation request has this id.")
    return dict(row._mapping)


def wallet_view(gw: Gateway, request_id: str) -> dict[str, Any]:
    """What the wallet reads after scanning: who asks, why, for what, with which nonce."""
    row = _load(gw, request_id)
    if as_utc(row["expires_at"]) <= utcnow():
        raise PresentationRequestExpired("The presentation request has expired.")
    if row["state"] != "pending":
        raise PresentationRequestAnswered("The presentation request has already been answered.")
    partner = gw.partners.get(row["verifier"])
    return {
        "request_id": row["id"],
        "client_id": row["verifier"],
        "verifier_name": {"zh": partner.name_zh, "en": partner.name_en} if partner else None,
        "purpose": row["purpose"],
        "claims": list(row["claims"]),
        "programme_id": row["programme_id"],
        "nonce": row["nonce"],
        "response_uri": response_uri(gw, row["id"]),
        "expires_at": int(as_utc(row["expires_at"]).timestamp()),
    }


def _decision(gw: Gateway, row: dict[str, Any], verified: VerifiedPresentation) -> dict[str, Any]:
    """The signed eligibility decision for a programme request (the eligibility issue's token type)."""
    programme = gw.programmes.get(row["programme_id"])
    assert programme is not None  # checked when the request was made
    at_least = verified.claims.get("level_at_least", {})
    reached = [lvl for lvl in LEVELS if at_least.get(lvl) is True]
    lowest = programme.grants[0].min_level
    below = LEVELS[LEVELS.index(lowest) + 1] if LEVELS.index(lowest) + 1 < len(LEVELS) else "unrated"
    # The best level the holder proved, among those asked: exactly what the thresholds need.
    level = reached[0] if reached else below
    outcome = evaluate(programme, level, level, on=today_in_shaoxing())
    now = utcnow()
    iat = int(now.timestamp())
    jti = secrets.token_urlsafe(18)
    claims: dict[str, Any] = {
        "iss": gw.settings.issuer,
        "aud": row["verifier"],
        "iat": iat,
        "nbf": iat,
        "exp": iat + gw.settings.assertion_lifetime,
        "jti": jti,
        "programme": programme.reference(),
        "purpose": programme.purpose,
        "eligible": outcome.eligible,
        "benefit": dict(outcome.grant.benefit) if outcome.grant is not None else None,
        "level": dict(outcome.level) if outcome.level is not None else None,
        "common_level": {"scheme": COMMON_SCHEME, "level": level, "proven_by": "level_at_least"},
        "reasons": [dict(r) for r in outcome.reasons],
        "presentation": {"request_id": row["id"], "credential_iss": verified.issuer},
    }
    token = sign(claims, gw.keyring.signing_key(), TYP_ELIGIBILITY_DECISION)
    return {"token": token, "jti": jti, "eligible": outcome.eligible, "benefit": claims["benefit"], "level": level}


def answer_request(gw: Gateway, request_id: str, vp_token: str) -> dict[str, Any]:
    """The wallet's answer: verify it against the request, then record it once.

    :raises PresentationRequestNotFound (404), PresentationRequestExpired (410),
        PresentationRequestAnswered (409), InvalidToken: a check of the verifier failed.
    """
    row = _load(gw, request_id)
    if as_utc(row["expires_at"]) <= utcnow():
        raise PresentationRequestExpired("The presentation request has expired.")
    if row["state"] != "pending":
        raise PresentationRequestAnswered("The presentation request has already been answered.")
    verified = gateway_verifier(gw).verify(
        vp_token, audience=row["verifier"], nonce=row["nonce"], requested=list(row["claims"])
    )
    result: dict[str, Any] = {
        "issuer": verified.issuer,
        "vct": verified.vct,
        "claims": verified.disclosed_claims(),
    }
    if row["programme_id"] is not None:
        result["decision"] = _decision(gw, row, verified)
    now = utcnow()
    with gw.engine.begin() as conn:
        person_id = None
        if verified.status is not None:
            list_id = int(verified.status.uri.rsplit("/", 1)[1])
            person_id = conn.execute(
                select(credentials.c.person_id).where(
                    credentials.c.status_list == list_id, credentials.c.status_idx == verified.status.idx
                )
            ).scalar()
        done = conn.execute(
            update(presentation_requests)
            .where(
                presentation_requests.c.id == request_id,
                presentation_requests.c.state == "pending",
                presentation_requests.c.expires_at > now,
            )
            .values(state="verified", result=result, person_id=person_id, answered_at=now)
        ).rowcount
        if done != 1:
            raise PresentationRequestAnswered("The presentation request has already been answered.")
        decision = result.get("decision")
        if decision is not None:
            conn.execute(
                insert(eligibility_decisions).values(
                    jti=decision["jti"],
                    caller=row["verifier"],
                    programme_id=row["programme_id"],
                    assertion_jti=request_id,
                    eligible=decision["eligible"],
                    level=decision["level"],
                    at=now,
                )
            )
    return {"request_id": request_id, "state": "verified"}


def decline_request(gw: Gateway, request_id: str) -> dict[str, Any]:
    """The holder declines (OpenID4VP's ``access_denied`` error response at the response URI): the
    verifier's poll says ``declined`` at once instead of waiting for the expiry. Nothing about the
    person is recorded — a decline discloses nothing, not even who declined.

    :raises PresentationRequestNotFound (404), PresentationRequestExpired (410),
        PresentationRequestAnswered (409).
    """
    row = _load(gw, request_id)
    now = utcnow()
    if as_utc(row["expires_at"]) <= now:
        raise PresentationRequestExpired("The presentation request has expired.")
    with gw.engine.begin() as conn:
        done = conn.execute(
            update(presentation_requests)
            .where(
                presentation_requests.c.id == request_id,
                presentation_requests.c.state == "pending",
                presentation_requests.c.expires_at > now,
            )
            .values(state="declined", result={"error": "access_denied"}, answered_at=now)
        ).rowcount
    if done != 1:
        raise PresentationRequestAnswered("The presentation request has already been answered.")
    return {"request_id": request_id, "state": "declined"}


def poll_request(gw: Gateway, principal: PartnerPrincipal, request_id: str) -> dict[str, Any]:
    """The verifier's view; another partner's request is "not found" (ids are not a directory)."""
    row = _load(gw, request_id)
    if row["verifier"] != principal.partner.id:
        raise PresentationRequestNotFound("No presentation request has this id.")
    expired = row["state"] == "pending" and as_utc(row["expires_at"]) <= utcnow()
    return {
        "request_id": row["id"],
        "state": "expired" if expired else row["state"],
        "purpose": row["purpose"],
        "claims": list(row["claims"]),
        "programme_id": row["programme_id"],
        "expires_at": int(as_utc(row["expires_at"]).timestamp()),
        "result": row["result"],
    }


def presentations_of(gw: Gateway, resident: Resident) -> list[dict[str, Any]]:
    """The resident's report: every online presentation they answered, newest first."""
    with gw.engine.connect() as conn:
        person = people_store.find_person(conn, resident.id_hash)
        person_id = person.id if person is not None else -1
        rows = conn.execute(
            select(presentation_requests)
            .where(presentation_requests.c.person_id == person_id)
            .order_by(presentation_requests.c.answered_at.desc())
        ).all()
        conn.rollback()
    out = []
    for r in rows:
        partner = gw.partners.get(r.verifier)
        out.append(
            {
                "request_id": r.id,
                "verifier": r.verifier,
                "verifier_name": {"zh": partner.name_zh, "en": partner.name_en} if partner else None,
                "purpose": r.purpose,
                "claims": list(r.claims),
                "programme_id": r.programme_id,
                "answered_at": as_utc(r.answered_at).isoformat(),
            }
        )
    return out
