"""Recognising another city's credential (SD-JWT VC) like its score assertions (measure 三(三):
mutual recognition within the metropolitan area).

A registered city platform lists the ``vct`` values it issues (``credential_vcts`` in its partner
file). The caller forwards a presentation a resident made *to it* (KB-JWT ``aud`` = the caller's
partner id, ``nonce`` = the one the caller gave the wallet) and names the purpose. Every check of
:class:`~gateway.exchange.sd_jwt_vc.SdJwtVcVerifier` runs with that city's keys, then the
recognition's own: the ``tier`` claim must be disclosed and of the issuer's own scheme, the
purpose one the caller may use, the status valid on the issuer's list. The tier is translated and
logged by the same code as an assertion's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway.exchange.errors import RequestedClaimMissing
from gateway.exchange.sd_jwt import digest, parse_sd_jwt
from gateway.exchange.sd_jwt_vc import SdJwtVcVerifier, TrustedIssuer
from gateway.services.context import Gateway
from gateway.services.credential.metadata import vct as own_vct
from gateway.services.exchange.issuance import PurposeNotAllowed
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.recognition.recognition import (
    OWN_SCHEME_PREFIX,
    InboundAssertion,
    Recognition,
    TierSchemeNotAllowed,
    _anchor,
    _check_status,
    _translate_and_log,
)

__all__ = ["recognise_presentation"]


def _vcts(gw: Gateway, partner_id: str | None) -> frozenset[str]:
    if partner_id is None:
        return frozenset({own_vct(gw)})
    partner = gw.partners.get(partner_id)
    listed: Any = partner.document.get("credential_vcts", []) if partner is not None else []
    return frozenset(v for v in listed if isinstance(v, str))


async def recognise_presentation(
    gw: Gateway, principal: PartnerPrincipal, presentation: str, *, nonce: str, purpose: str
) -> Recognition:
    """:raises InvalidToken: a verifier check; IssuerNotTrusted, TierSchemeNotAllowed,
    PurposeNotAllowed, RequestedClaimMissing (no ``tier``), status refusals as for assertions."""
    if purpose not in principal.scopes:
        raise PurposeNotAllowed("The access token does not allow this purpose.")
    base = SdJwtVcVerifier(issuers={}, status_of=None)
    parts = parse_sd_jwt(presentation, max_bytes=base.max_bytes, max_disclosures=base.max_disclosures)
    iss = base.jwt_verifier(None).inspect(parts.issuer_jwt).claims.get("iss")
    anchor = await _anchor(gw, iss if isinstance(iss, str) else "")
    keys: Mapping[str, Any]
    if anchor.keys is not None:
        keys = anchor.keys
    else:
        assert anchor.jwks_uri is not None
        keys = await gw.partner_keys.jwks.get_keys(anchor.jwks_uri)
    trusted = TrustedIssuer(anchor.issuer, keys, _vcts(gw, anchor.partner_id))
    # Status is checked below with the issuer's list, as for assertions (async fetch, cached).
    verifier = SdJwtVcVerifier(issuers={anchor.issuer: trusted}, status_of=None)
    verified = verifier.verify(presentation, audience=principal.partner.id, nonce=nonce, requested=None)
    tier = verified.claims.get("tier")
    if not isinstance(tier, Mapping) or not {"scheme", "code"} <= set(tier):
        raise RequestedClaimMissing("Recognition needs the tier claim disclosed.", claims=["tier"])
    prefix = OWN_SCHEME_PREFIX if anchor.partner_id is None else f"{anchor.partner_id}/"
    if not str(tier["scheme"]).startswith(prefix):
        raise TierSchemeNotAllowed("An issuer may only assert tiers of its own schemes.", expected_prefix=prefix)
    own = await _check_status(gw, anchor, verified.claims, own_later=True)  # ours: in the logging transaction
    claims = {
        "jti": "sd-jwt:" + digest(parts.issuer_jwt),  # credentials carry no jti: the issuer JWT's digest
        "purpose": purpose,
        "exp": verified.claims["exp"],
        "tier": {"scheme": tier["scheme"], "code": tier["code"], "label": tier.get("label", {})},
    }
    if isinstance(verified.claims.get("score"), Mapping):
        claims["score"] = verified.claims["score"]
    return await asyncio.to_thread(_translate_and_log, gw, principal, InboundAssertion(anchor, claims, own))
