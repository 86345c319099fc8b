"""Inbound recognition: a score assertion issued by a partner city (or by this gateway) is verified,
its status checked, and its tier translated through the common scheme into Shaoxing's equivalent.

Verification, in order, each failure its own problem type:

1. the header: compact JWS, no ``jku``/``x5u``/``jwk``/``x5c``, no ``crit``, ``typ``
   ``score-assertion+jwt``, ``alg`` in the allow-list (401, before any key is looked up);
2. the trust anchor: ``iss`` — read from the *unverified* payload only to choose whose keys to
   use — must be this gateway or a registered, enabled ``city_platform`` with exactly that
   ``issuer`` (403 ``issuer_not_trusted`` / ``issuer_disabled``);
3. signature with that issuer's keys (inline JWKS, ``jwks_uri``, or ours), ``iss`` exact,
   ``exp``/``nbf``/``iat`` window, ``aud`` one string (401); an ``aud`` naming someone other than
   the caller is a policy refusal (403 ``assertion_not_for_caller``);
4. the published schema (422 ``assertion_schema_invalid``); the tier's scheme must be the
   issuer's own (403 ``tier_scheme_not_allowed``: a city's schemes are named after its partner id,
   ours are ``sx-integrity/…``), the purpose one the caller may use (403 ``purpose_not_allowed``)
   and, when the caller names one, the assertion's (403 ``purpose_mismatch``);
5. status, when the assertion references a status list (403 ``assertion_revoked``,
   ``assertion_suspended``, ``assertion_superseded``; 503/502 when the list is unusable; 403
   ``status_list_untrusted``, before any fetch, when a partner names a list off its own origin).
   Our own assertions are checked against the ``status_slots`` row itself, not the cached served
   list, so a revocation or supersession is honoured at once.

Translation never compares raw scores: partner tier → common level (the partner scheme's
crosswalk) → local equivalent (the target scheme's crosswalk, ``from_common``). A tier of the
target scheme itself is never round-tripped: it stays what it is (the common level is still reported). A tier no
crosswalk places is ``unrated``, which qualifies for nothing. A disclosed score is used only when
a crosswalk maps by score band, and is never echoed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, cast

from sqlalchemy import Connection, bindparam, insert, select

from gateway.clock import today_in_shaoxing, utcnow
from gateway.errors import PermissionDenied
from gateway.exchange import Status, StatusReference, TokenVerifier
from gateway.exchange.assertion import AssertionSchemaInvalid, score_assertion_verifier
from gateway.exchange.errors import AudienceMismatch, InvalidClaim, MissingClaim, StatusListInvalid
from gateway.exchange.tiers import UNRATED, Crosswalk
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import COMMON_SCHEME, PurposeNotAllowed, local_scheme_id
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.operations.metrics import record_decision
from gateway.services.recognition.assertion_schema import claims_errors
from gateway.services.recognition.partner_keys import StatusListRejected, StatusListUnavailable, TrustAnchor
from gateway.services.recognition.programmes import Programme, evaluate
from gateway.store.engine import reader
from gateway.store.tables import recognitions, status_slots

__all__ = [
    "OWN_SCHEME_PREFIX",
    "AssertionNotForCaller",
    "AssertionRevoked",
    "AssertionStatusUnknown",
    "AssertionSuperseded",
    "AssertionSuspended",
    "CrosswalkSource",
    "InboundAssertion",
    "IssuerDisabled",
    "IssuerNotTrusted",
    "PurposeMismatch",
    "Recognition",
    "TierRef",
    "TierSchemeNotAllowed",
    "Translation",
    "check_own_status",
    "level_on",
    "recognise",
    "resolve_anchor",
    "source_tier",
    "translate",
    "verify_inbound",
]

OWN_SCHEME_PREFIX: Final = "sx-integrity/"
_KIND: Final = "score_assertion"
# Header checks only (inspect never uses issuer or audience): they run before we pick any key.
_INSPECTOR: Final = score_assertion_verifier(issuer="https://inspect.invalid", audience="inspect")


class IssuerNotTrusted(PermissionDenied):
    code = "issuer_not_trusted"
    title = "The assertion's issuer is not a trusted city platform"


class IssuerDisabled(IssuerNotTrusted):
    code = "issuer_disabled"
    title = "The assertion's issuer is registered but disabled"


class AssertionNotForCaller(PermissionDenied):
    code = "assertion_not_for_caller"
    title = "The assertion is addressed to another party"


class TierSchemeNotAllowed(PermissionDenied):
    code = "tier_scheme_not_allowed"
    title = "The assertion's tier scheme is not one its issuer publishes"


class PurposeMismatch(PermissionDenied):
    code = "purpose_mismatch"
    title = "The assertion was issued for another purpose"


class AssertionRevoked(PermissionDenied):
    code = "assertion_revoked"
    title = "The assertion has been revoked by its issuer"


class AssertionSuspended(PermissionDenied):
    code = "assertion_suspended"
    title = "The assertion is suspended by its issuer"


class AssertionSuperseded(PermissionDenied):
    code = "assertion_superseded"
    title = "The assertion has been superseded by a newer one"


class AssertionStatusUnknown(PermissionDenied):
    code = "assertion_status_unknown"
    title = "The assertion's status is not one this gateway accepts"


_REFUSED_STATUS: Final[Mapping[int, type[PermissionDenied]]] = {
    Status.INVALID: AssertionRevoked,
    Status.SUSPENDED: AssertionSuspended,
    Status.SUPERSEDED: AssertionSuperseded,
}


class CrosswalkSource(Protocol):
    """What translation needs of ``gw.mappings`` (files, or the database-backed registry)."""

    def crosswalk_for(self, local_scheme: str) -> Crosswalk | None: ...


@functools.lru_cache(maxsize=512)
def _verifier(issuer: str, audience: str) -> TokenVerifier:
    # One verifier per (issuer, caller) pair, built once: the set of pairs is small and fixed.
    return score_assertion_verifier(issuer=issuer, audience=audience)


@dataclass(frozen=True, slots=True)
class InboundAssertion:
    """An assertion that passed every check, with the anchor that verified it."""

    anchor: TrustAnchor
    claims: Mapping[str, Any]
    # Our own assertion's status reference, still to be checked by :func:`check_own_status` in the
    # transaction that records the decision (one thread hop and one transaction, issue 12).
    own_status: StatusReference | None = None

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def purpose(self) -> str:
        return str(self.claims["purpose"])

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])

    @property
    def tier(self) -> Mapping[str, Any]:
        return cast("Mapping[str, Any]", self.claims["tier"])

    @property
    def disclosed_score(self) -> int | None:
        score = self.claims.get("score")
        return int(score["value"]) if isinstance(score, Mapping) else None


def resolve_anchor(gw: Gateway, issuer: str) -> TrustAnchor:
    """Whose keys verify tokens with this ``iss`` (sync: the registry or keyring may read the database)."""
    if issuer == gw.settings.issuer:
        return TrustAnchor(issuer, None, keys=gw.keyring.verification_keys())
    matches = [p for p in gw.partners.all() if p.issuer == issuer]
    if not matches:
        raise IssuerNotTrusted("No registered city platform issues assertions under this iss.", check="unknown_issuer")
    if len(matches) > 1:
        raise IssuerNotTrusted("Several partners claim this issuer.", check="ambiguous_issuer")
    partner = matches[0]
    if partner.kind != "city_platform":
        raise IssuerNotTrusted("Only city platforms' assertions are recognised.", check="not_a_city_platform")
    if not partner.enabled:
        raise IssuerDisabled("The issuing city platform is disabled.", issuer_partner=partner.id)
    if partner.keys:
        return TrustAnchor(issuer, partner.id, keys=partner.keys)
    if partner.jwks_uri:
        return TrustAnchor(issuer, partner.id, jwks_uri=partner.jwks_uri)
    raise IssuerNotTrusted("The issuing city platform has registered no keys.", check="no_keys")


# Every recognition runs these: built once, so SQLAlchemy does not rebuild and cache-key them per
# call (issue 12).
_OWN_STATUS = select(status_slots.c.status).where(
    status_slots.c.list_id == bindparam("lid"), status_slots.c.idx == bindparam("slot")
)
_LOG_RECOGNITION = insert(recognitions)


def _own_slot(gw: Gateway, reference: StatusReference) -> tuple[int, int] | None:
    """The (list, index) of one of our own slots that ``reference`` names; ``None`` when the index
    cannot be a slot."""
    suffix = reference.uri.removeprefix(f"{gw.settings.issuer}/status-lists/")
    if suffix == reference.uri or not suffix.isdigit() or len(suffix) > 10:
        raise StatusListUnavailable("This gateway publishes no such status list.", reason="not_found")
    list_id = int(suffix)
    if reference.uri != gw.status_lists.uri(list_id) or not 1 <= list_id < 1 << 31:
        raise StatusListUnavailable("This gateway publishes no such status list.", reason="not_found")
    if not 0 <= reference.idx < 1 << 31:
        return None
    return list_id, reference.idx


def _own_status(gw: Gateway, conn: Connection, reference: StatusReference) -> int | None:
    """The current status of one of our own slots, read from its row (never from the served list's
    cache); ``None`` when no slot has that index."""
    slot = _own_slot(gw, reference)
    if slot is None:
        return None
    row = conn.execute(_OWN_STATUS, {"lid": slot[0], "slot": slot[1]}).first()
    return None if row is None else int(row.status)


def check_own_status(gw: Gateway, conn: Connection, inbound: InboundAssertion) -> None:
    """The status check :func:`verify_inbound` left to the caller's transaction (our own assertions).

    :raises AssertionRevoked, AssertionSuspended, AssertionSuperseded, AssertionStatusUnknown:
    """
    if inbound.own_status is not None:
        _refuse(_own_status(gw, conn, inbound.own_status))


def _refuse(value: int | None) -> None:
    if value is None:
        raise AssertionStatusUnknown("The issuer has no status for this assertion.")
    if value != Status.VALID:
        refusal = _REFUSED_STATUS.get(value, AssertionStatusUnknown)
        raise refusal("The issuer's status list does not mark this assertion valid.", status_value=value)


def _own_status_now(gw: Gateway, reference: StatusReference) -> int | None:
    with reader(gw.engine).begin() as conn:
        return _own_status(gw, conn, reference)


async def _check_status(
    gw: Gateway, anchor: TrustAnchor, claims: Mapping[str, Any], *, own_later: bool = False
) -> StatusReference | None:
    """Check a partner's status list now; our own slot now, or (``own_later``) return its reference
    for :func:`check_own_status`."""
    reference = StatusReference.from_claims(claims)
    if reference is None:
        return None
    if anchor.partner_id is None:
        if own_later:
            _own_slot(gw, reference)  # a malformed reference is refused here, as before
            return reference
        _refuse(await asyncio.to_thread(_own_status_now, gw, reference))
        return None
    token = await gw.partner_keys.status_list(anchor, reference.uri)
    try:
        value = token.status(reference.idx)
    except StatusListInvalid as exc:
        raise StatusListRejected("The referenced index is outside the status list.", failed_check=exc.code) from None
    _refuse(int(value))
    return None


async def _anchor(gw: Gateway, issuer: str) -> TrustAnchor:
    """:func:`resolve_anchor` on the event loop when it needs no database read (the partner registry
    is in memory; our keys are when their snapshot is fresh), else in a thread."""
    if issuer != gw.settings.issuer:
        return resolve_anchor(gw, issuer)
    keys = gw.keyring.fresh_verification_keys()
    if keys is not None:
        return TrustAnchor(issuer, None, keys=keys)
    return await asyncio.to_thread(resolve_anchor, gw, issuer)


async def verify_inbound(
    gw: Gateway, principal: PartnerPrincipal, token: str, *, purpose: str | None = None, own_status_later: bool = False
) -> InboundAssertion:
    """Run every check of the module docstring; shared by recognition and eligibility decisions.

    With ``own_status_later`` the status of *our own* assertion is left to the caller, who must call
    :func:`check_own_status` in the transaction that records its decision, before recording it.
    """
    unverified = _INSPECTOR.inspect(token)
    issuer = unverified.claims.get("iss")
    if issuer is None:
        raise MissingClaim("A required claim is missing.", token_kind=_KIND, claim="iss")
    if not isinstance(issuer, str) or not issuer:
        raise InvalidClaim("A claim is not a string.", token_kind=_KIND, claim="iss")
    anchor = await _anchor(gw, issuer)
    try:
        verified = await gw.partner_keys.verify(anchor, _verifier(issuer, principal.partner.id), token)
    except AudienceMismatch as exc:
        if exc.extensions.get("check") != "value":
            raise
        # Signed, timely and genuine, but meant for someone else: a policy refusal, not a bad token.
        raise AssertionNotForCaller("The assertion's audience is not the calling partner.") from None
    claims = verified.claims
    problems = claims_errors(claims)
    if problems:
        raise AssertionSchemaInvalid(
            "The claims do not match score-assertion.schema.json.",
            token_kind=_KIND,
            check="schema",
            errors=problems[:10],
        )
    prefix = OWN_SCHEME_PREFIX if anchor.partner_id is None else f"{anchor.partner_id}/"
    if not str(claims["tier"]["scheme"]).startswith(prefix):
        raise TierSchemeNotAllowed("An issuer may only assert tiers of its own schemes.", expected_prefix=prefix)
    if claims["purpose"] not in principal.scopes:
        raise PurposeNotAllowed("The caller may not use an assertion issued for this purpose.")
    if purpose is not None and claims["purpose"] != purpose:
        raise PurposeMismatch("The assertion was not issued for this purpose.", expected_purpose=purpose)
    own = await _check_status(gw, anchor, claims, own_later=own_status_later)
    return InboundAssertion(anchor, claims, own)


# --- translation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TierRef:
    scheme: str
    code: str
    label: Mapping[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "code": self.code, "label": dict(self.label) if self.label else None}


@dataclass(frozen=True, slots=True)
class Translation:
    source: TierRef
    common_level: str
    target: TierRef | None
    crosswalks: tuple[Crosswalk, ...]
    placement: str  # translated | no_crosswalk | not_placed

    @property
    def provisional(self) -> bool:
        return not self.crosswalks or any(bool(c.document.get("provisional")) for c in self.crosswalks)

    def crosswalk_refs(self) -> list[dict[str, Any]]:
        return [{"id": c.id, "version": c.version, "digest": c.digest} for c in self.crosswalks]


def _label(mappings: CrosswalkSource, scheme: str, code: str) -> Mapping[str, str] | None:
    # Labels are presentation only; a mappings store without schemes still translates.
    schemes = getattr(mappings, "schemes", None)
    tier = schemes[scheme].tier(code) if isinstance(schemes, Mapping) and scheme in schemes else None
    return {"zh": tier.label_zh, "en": tier.label_en} if tier is not None else None


def _from_common(mappings: CrosswalkSource, level: str, scheme: str) -> tuple[TierRef | None, Crosswalk | None]:
    if level == UNRATED:
        return None, None
    if scheme == COMMON_SCHEME:
        return TierRef(scheme, level, _label(mappings, scheme, level)), None
    crosswalk = mappings.crosswalk_for(scheme)
    code = crosswalk.local_equivalent(level) if crosswalk is not None else None
    if code is None:
        return None, crosswalk
    return TierRef(scheme, code, _label(mappings, scheme, code)), crosswalk


def translate(
    mappings: CrosswalkSource, source: TierRef, target_scheme: str, *, score: int | None = None
) -> Translation:
    """``source`` (a tier of some scheme) → common level → its equivalent on ``target_scheme``.

    ``score`` is consulted only by a crosswalk that maps score bands; it is never returned.
    """
    crosswalk = mappings.crosswalk_for(source.scheme)
    if crosswalk is None:
        return Translation(source, UNRATED, None, (), "no_crosswalk")
    level = crosswalk.common_level(source.code, score)
    if level == UNRATED:
        return Translation(source, UNRATED, None, (crosswalk,), "not_placed")
    if source.scheme == target_scheme:
        # Already on the target scheme: a round trip through the common level could move the tier.
        same = TierRef(source.scheme, source.code, _label(mappings, source.scheme, source.code))
        return Translation(source, level, same, (crosswalk,), "translated")
    target, back = _from_common(mappings, level, target_scheme)
    used = (crosswalk,) if back is None or back.id == crosswalk.id else (crosswalk, back)
    return Translation(source, level, target, used, "translated")


def level_on(mappings: CrosswalkSource, translation: Translation, scheme: str) -> TierRef | None:
    """The person's level on ``scheme``: the common level itself, the translated target, or a new
    translation from the common level (a programme on another local scheme)."""
    if translation.target is not None and translation.target.scheme == scheme:
        return translation.target
    if translation.placement == "translated" and translation.source.scheme == scheme:
        source = translation.source
        return TierRef(scheme, source.code, _label(mappings, scheme, source.code))
    return _from_common(mappings, translation.common_level, scheme)[0]


# --- the recognition use case ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recognition:
    inbound: InboundAssertion
    translation: Translation
    programmes: tuple[tuple[Programme, Mapping[str, Any]], ...]  # (programme, benefit) the person qualifies for
    recognised_at: datetime

    def as_dict(self) -> dict[str, Any]:
        t = self.translation
        return {
            "issuer": self.inbound.anchor.issuer,
            "issuer_partner": self.inbound.anchor.partner_id,
            "partner_tier": t.source.as_dict(),
            "common_level": {"scheme": COMMON_SCHEME, "level": t.common_level},
            "local_equivalent": t.target.as_dict() if t.target is not None else None,
            "placement": t.placement,
            "provisional": t.provisional,
            "crosswalks": t.crosswalk_refs(),
            "programmes": [{**p.summary(), "benefit": dict(benefit)} for p, benefit in self.programmes],
            "jti": self.inbound.jti,
            "purpose": self.inbound.purpose,
            "expires_at": self.inbound.expires_at,
            "recognised_at": int(self.recognised_at.timestamp()),
        }


def source_tier(inbound: InboundAssertion) -> TierRef:
    tier = inbound.tier
    return TierRef(str(tier["scheme"]), str(tier["code"]), dict(tier["label"]))


def _translate_and_log(gw: Gateway, principal: PartnerPrincipal, inbound: InboundAssertion) -> Recognition:
    translation = translate(
        gw.mappings, source_tier(inbound), local_scheme_id(gw.model.version), score=inbound.disclosed_score
    )
    today = today_in_shaoxing()
    offers = []
    for programme in gw.programmes.offered_by(principal.partner.id, inbound.purpose):
        level = level_on(gw.mappings, translation, programme.scheme)
        outcome = evaluate(programme, level.code if level else None, translation.common_level, on=today)
        if outcome.grant is not None:
            offers.append((programme, outcome.grant.benefit))
    now = utcnow()
    with gw.engine.begin() as conn:
        check_own_status(gw, conn, inbound)  # before anything is recorded: a refusal records nothing
        conn.execute(
            _LOG_RECOGNITION,
            {
                "caller": principal.partner.id,
                "assertion_issuer": inbound.anchor.issuer,
                "assertion_jti": inbound.jti,
                "partner_tier": translation.source.code,
                "common_level": translation.common_level,
                "local_tier": translation.target.code if translation.target else None,
                "crosswalks": translation.crosswalk_refs(),
                "at": now,
            },
        )
    record_decision("recognition", principal.partner.id, "translated" if translation.target else "unrated")  # issue 13
    return Recognition(inbound, translation, tuple(offers), now)


async def recognise(gw: Gateway, principal: PartnerPrincipal, token: str, *, purpose: str | None = None) -> Recognition:
    """Verify ``token`` for the calling partner, translate it to Shaoxing's scheme, list the
    caller's programmes the person qualifies for, and log the recognition."""
    inbound = await verify_inbound(gw, principal, token, purpose=purpose, own_status_later=True)
    # One thread hop for our own status, the translation and the log (issue 12: each hop cost more
    # than the work it carried).
    return await asyncio.to_thread(_translate_and_log, gw, principal, inbound)
