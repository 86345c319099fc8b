"""Eligibility decisions: does the person behind an assertion qualify for a programme of the caller?

The assertion goes through exactly the checks of recognition (:func:`verify_inbound`: issuer
trust, signature, time window, audience = the caller, schema, purpose, status) with one more: its
purpose must be the programme's, since that is the use the person consented to. The caller must
run the programme (``owner``) or be among those it is ``open_to``.

The answer is a JWS signed with the gateway's active key (``typ`` ``eligibility-decision+jwt``,
``aud`` the caller, ``iss`` us, ``iat``/``nbf``/``exp``/``jti``), so the bank keeps proof it can
check with ``/.well-known/jwks.json``. It names the programme (id, version, content hash), the
level the rule was applied to, the reasons, the assertion's issuer and ``jti``, and the crosswalk
versions used. It never carries a score: rules are by level or tier, so the number is never
needed, even when the assertion disclosed it. It expires with the assertion it rests on (and never
later than our own assertions do, so the signing key is still published while it is valid).
Each decision is recorded in ``eligibility_decisions``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import insert

from gateway.clock import today_in_shaoxing, utcnow
from gateway.errors import NotFound, PermissionDenied
from gateway.exchange import sign
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import COMMON_SCHEME
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.operations.metrics import record_decision
from gateway.services.recognition.programmes import DECIDING_KINDS, Programme, evaluate
from gateway.services.recognition.recognition import (
    InboundAssertion,
    check_own_status,
    source_tier,
    translate,
    verify_inbound,
)
from gateway.store.tables import eligibility_decisions

__all__ = [
    "TYP_ELIGIBILITY_DECISION",
    "Decision",
    "NotADecidingPartner",
    "ProgrammeNotFound",
    "ProgrammeNotOffered",
    "decide",
]

TYP_ELIGIBILITY_DECISION: Final = "eligibility-decision+jwt"


class ProgrammeNotFound(NotFound):
    code = "programme_not_found"
    title = "The programme does not exist"


class ProgrammeNotOffered(PermissionDenied):
    code = "programme_not_offered"
    title = "The programme is not run by, or open to, the calling partner"


class NotADecidingPartner(PermissionDenied):
    code = "not_a_deciding_partner"
    title = "Only financial institutions and incentive providers ask for eligibility decisions"


@dataclass(frozen=True, slots=True)
class Decision:
    token: str
    claims: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        c = self.claims
        return {
            "decision": self.token,
            "token_type": TYP_ELIGIBILITY_DECISION,
            "jti": c["jti"],
            "eligible": c["eligible"],
            "benefit": c["benefit"],
            "level": c["level"],
            "common_level": c["common_level"],
            "reasons": c["reasons"],
            "programme": c["programme"],
            "assertion_jti": c["assertion"]["jti"],
            "decided_at": c["iat"],
            "expires_at": c["exp"],
        }


_LOG_DECISION = insert(eligibility_decisions)  # built once (issue 12)


def _decide_and_record(
    gw: Gateway, principal: PartnerPrincipal, inbound: InboundAssertion, programme: Programme
) -> Decision:
    # Straight to the programme's scheme: the decision names only the crosswalks its rule needed.
    translation = translate(gw.mappings, source_tier(inbound), programme.scheme, score=inbound.disclosed_score)
    level = translation.target
    outcome = evaluate(programme, level.code if level else None, translation.common_level, on=today_in_shaoxing())
    now = utcnow()
    iat = int(now.timestamp())
    jti = secrets.token_urlsafe(18)
    claims: dict[str, Any] = {
        "iss": gw.settings.issuer,
        "aud": principal.partner.id,
        "sub": inbound.claims["sub"],  # the caller's own pairwise pseudonym, from the assertion it holds
        "iat": iat,
        "nbf": iat,
        "exp": min(inbound.expires_at, iat + gw.settings.assertion_lifetime),
        "jti": jti,
        "programme": programme.reference(),
        "purpose": programme.purpose,
        "eligible": outcome.eligible,
        "benefit": dict(outcome.grant.benefit) if outcome.grant is not None else None,
        "level": dict(outcome.level) if outcome.level is not None else None,
        "common_level": {"scheme": COMMON_SCHEME, "level": translation.common_level},
        "reasons": [dict(r) for r in outcome.reasons],
        "assertion": {"iss": inbound.anchor.issuer, "jti": inbound.jti, "exp": inbound.expires_at},
        "crosswalks": translation.crosswalk_refs(),
    }
    token = sign(claims, gw.keyring.signing_key(), TYP_ELIGIBILITY_DECISION)
    with gw.engine.begin() as conn:
        check_own_status(gw, conn, inbound)  # before anything is recorded: a refusal records nothing
        conn.execute(
            _LOG_DECISION,
            {
                "jti": jti,
                "caller": principal.partner.id,
                "programme_id": programme.id,
                "assertion_jti": inbound.jti,
                "eligible": outcome.eligible,
                "level": level.code if level is not None else translation.common_level,
                "at": now,
            },
        )
    record_decision("eligibility", principal.partner.id, "eligible" if outcome.eligible else "not_eligible")  # issue 13
    return Decision(token, claims)


async def decide(gw: Gateway, principal: PartnerPrincipal, token: str, programme_id: str) -> Decision:
    """Decide whether the person behind ``token`` qualifies for ``programme_id``, signed for the caller.

    :raises NotADecidingPartner: the caller is a city platform or a unit (403).
    :raises ProgrammeNotFound: no such programme (404).
    :raises ProgrammeNotOffered: the caller neither runs the programme nor is it open to it (403).
    :raises GatewayError: any verification failure of :func:`verify_inbound`.
    """
    if principal.partner.kind not in DECIDING_KINDS:
        raise NotADecidingPartner("Only financial institutions and incentive providers ask for decisions.")
    programme = gw.programmes.get(programme_id)
    if programme is None:
        raise ProgrammeNotFound("No programme has this id.")
    if not programme.offered_to(principal.partner.id):
        raise ProgrammeNotOffered("The calling partner does not run this programme.")
    inbound = await verify_inbound(gw, principal, token, purpose=programme.purpose, own_status_later=True)
    return await asyncio.to_thread(_decide_and_record, gw, principal, inbound, programme)
