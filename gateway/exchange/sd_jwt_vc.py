"""SD-JWT VC (IETF draft-ietf-oauth-sd-jwt-vc): the typed credential and its verifier.

The issuer-signed JWT has ``typ`` ``dc+sd-jwt`` and the claims ``iss``, ``iat``, ``exp``, ``vct``,
``cnf`` and ``status``; everything else arrives as disclosures. :class:`SdJwtVcVerifier` runs
every check a verifier makes, in this order, each failure with its own error class:

1. size and disclosure count → ``presentation_too_large``; shape → ``presentation_malformed``;
2. the issuer-signed JWT: header checks of :class:`TokenVerifier` (``token_type_mismatch``,
   ``algorithm_not_allowed``, ``forbidden_header`` …), ``iss`` among the trusted issuers →
   ``credential_issuer_not_trusted``, signature with that issuer's keys → ``bad_signature``/``unknown_key``,
   ``exp``/``nbf``/``iat`` → ``token_expired``/``token_not_yet_valid``/``token_issued_in_future``;
3. ``vct`` one of the issuer's known types → ``credential_type_unknown``;
4. ``_sd_alg`` → ``sd_alg_not_allowed``;
5. status from the (cached) status list → ``credential_revoked``;
6. disclosures: each digest once, none unreferenced → ``disclosure_malformed``,
   ``disclosure_duplicated``, ``disclosure_unreferenced``;
7. key binding when ``cnf`` is present → ``key_binding_missing``, then ``kb_jwt.py``'s checks;
8. against the request: a disclosed claim it did not ask for → ``disclosure_not_requested``;
   an asked claim missing → ``requested_claim_missing``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.exchange.errors import (
    CredentialIssuerNotTrusted,
    CredentialRevoked,
    CredentialTypeUnknown,
    DisclosureNotRequested,
    InvalidClaim,
    KeyBindingMissing,
    RequestedClaimMissing,
)
from gateway.exchange.kb_jwt import holder_key_from_cnf, make_kb_jwt, verify_kb_jwt
from gateway.exchange.keys import SigningKey, VerificationKey
from gateway.exchange.sd_jwt import (
    MAX_DISCLOSURES,
    MAX_PRESENTATION_BYTES,
    check_sd_alg,
    parse_sd_jwt,
    resolve_disclosures,
    select_disclosures,
)
from gateway.exchange.status_list import Status, StatusReference
from gateway.exchange.verify import TokenVerifier

__all__ = [
    "MAX_CREDENTIAL_LIFETIME",
    "TYP_SD_JWT_VC",
    "SdJwtVcVerifier",
    "StatusLookup",
    "TrustedIssuer",
    "VerifiedPresentation",
    "present",
]

TYP_SD_JWT_VC: Final = "dc+sd-jwt"
MAX_CREDENTIAL_LIFETIME: Final = 90 * 86400
_KIND: Final = "sd_jwt_vc"
# A status lookup: the referenced list's status at idx (raises StatusListInvalid if unusable).
StatusLookup = Callable[[StatusReference], int]


@functools.lru_cache(maxsize=256)
def _jwt_verifier(issuer: str | None, max_skew: float, max_bytes: int, now: Callable[[], float]) -> TokenVerifier:
    return TokenVerifier(
        typ=TYP_SD_JWT_VC,
        audience=None,
        issuer=issuer,
        required_claims=frozenset({"iss", "iat", "exp", "vct"}),
        max_skew=max_skew,
        max_lifetime=MAX_CREDENTIAL_LIFETIME,
        max_token_bytes=max_bytes,
        kind=_KIND,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An issuer we accept credentials from: its keys (parsed once) and its credential types."""

    issuer: str
    keys: Mapping[str, VerificationKey]
    vcts: frozenset[str]


@dataclass(frozen=True, slots=True)
class VerifiedPresentation:
    issuer: str
    vct: str
    claims: Mapping[str, Any]  # visible claims plus the disclosed ones, _sd removed
    disclosed: frozenset[str]  # dotted paths of the disclosed claims
    status: StatusReference | None
    key_binding: Mapping[str, Any] | None

    def disclosed_claims(self) -> dict[str, Any]:
        """Only what was disclosed, keyed by path: what a verifier shows its counter staff."""
        out: dict[str, Any] = {}
        for path in sorted(self.disclosed):
            node: Any = self.claims
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            out[path] = node
        return out


@dataclass(frozen=True, kw_only=True)
class SdJwtVcVerifier:
    """Configure once (issuers, status lookup, windows), call :meth:`verify` per presentation."""

    issuers: Mapping[str, TrustedIssuer]
    status_of: StatusLookup | None
    kb_max_age: float = 300.0
    max_skew: float = 10.0
    max_bytes: int = MAX_PRESENTATION_BYTES
    max_disclosures: int = MAX_DISCLOSURES
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def jwt_verifier(self, issuer: str | None) -> TokenVerifier:
        """The issuer-signed JWT's verifier, built once per issuer (``None``: header checks only)."""
        return _jwt_verifier(issuer, self.max_skew, self.max_bytes, self.now)

    def verify(
        self,
        presentation: str,
        *,
        audience: str,
        nonce: str | None,
        requested: Collection[str] | None = None,
        kb_max_age: float | None = None,
    ) -> VerifiedPresentation:
        """Verify ``presentation`` for the verifier ``audience``.

        ``nonce=None`` means offline (any nonce; the caller bounds ``kb_max_age``).
        ``requested``: the exact claim paths the verifier asked for (``None``: take what comes,
        used for recognition of credentials sent by a partner).
        """
        parts = parse_sd_jwt(presentation, max_bytes=self.max_bytes, max_disclosures=self.max_disclosures)
        unverified = self.jwt_verifier(None).inspect(parts.issuer_jwt)
        iss = unverified.claims.get("iss")
        trusted = self.issuers.get(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise CredentialIssuerNotTrusted("The credential's issuer is not trusted here.", token_kind=_KIND)
        payload = self.jwt_verifier(trusted.issuer).verify(parts.issuer_jwt, trusted.keys).claims
        vct = payload["vct"]
        if not isinstance(vct, str) or vct not in trusted.vcts:
            raise CredentialTypeUnknown("The credential type is not one this issuer is known for.", token_kind=_KIND)
        check_sd_alg(payload)
        reference = StatusReference.from_claims(payload)
        if reference is not None and self.status_of is not None:
            status = self.status_of(reference)
            if status != Status.VALID:
                raise CredentialRevoked("The credential is no longer valid.", token_kind=_KIND, status=int(status))
        claims, disclosed = resolve_disclosures(payload, parts.disclosures)
        key_binding = None
        if "cnf" in payload:
            holder = holder_key_from_cnf(payload["cnf"])
            if holder is None:
                raise InvalidClaim("The cnf claim holds no usable public key.", token_kind=_KIND, claim="cnf")
            if parts.kb_jwt is None:
                raise KeyBindingMissing("The credential is holder-bound: a KB-JWT is required.", token_kind=_KIND)
            key_binding = verify_kb_jwt(
                parts.kb_jwt,
                holder,
                presented=parts.presented,
                audience=audience,
                nonce=nonce,
                now=self.now(),
                max_age=self.kb_max_age if kb_max_age is None else kb_max_age,
                max_skew=self.max_skew,
            )
        if requested is not None:
            asked = set(requested)
            # A parent disclosed for an asked child (or the reverse, a whole object) is not extra.
            extra = sorted(
                p for p in disclosed if not any(p == a or a.startswith(p + ".") or p.startswith(a + ".") for a in asked)
            )
            if extra:
                raise DisclosureNotRequested(
                    "The presentation discloses claims the request did not ask for.", token_kind=_KIND, claims=extra
                )
            missing = sorted(a for a in asked if not any(a == p or a.startswith(p + ".") for p in disclosed))
            if missing:
                raise RequestedClaimMissing(
                    "The presentation lacks requested claims.", token_kind=_KIND, claims=missing
                )
        return VerifiedPresentation(trusted.issuer, vct, claims, frozenset(disclosed), reference, key_binding)


def present(
    credential: str, holder: SigningKey, paths: Collection[str], *, aud: str, nonce: str, iat: int | None = None
) -> str:
    """The holder's side: the credential with only the disclosures at ``paths``, and a KB-JWT.

    Online, ``aud`` is the verifier's id and ``nonce`` the request's; offline, ``aud`` is the
    verifier's kind and ``nonce`` a fresh random value of the wallet's.
    """
    presented = select_disclosures(credential, list(paths))
    return presented + make_kb_jwt(
        presented, holder, aud=aud, nonce=nonce, iat=int(time.time()) if iat is None else iat
    )
