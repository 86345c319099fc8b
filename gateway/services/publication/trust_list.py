"""The regional trust list: the partners this gateway trusts as issuers of score assertions (the
recognition of measure 五 between the cities of the Hangzhou metropolitan area and the YRD).

Published as a signed document so that another city can build its side of the recognition from
it, the way an EU member state's trusted list (ETSI TS 119 612) is read: for each enabled city
platform its id, names, issuer identifier, where its keys are (a JWKS URL, or the public keys
themselves when it has none) and the tier schemes and crosswalks under which its tiers are read.
Administrators' overrides (a disabled partner, rotated keys) apply, as they do to recognition.
"""

from __future__ import annotations

from typing import Any

from gateway.services.context import Gateway

__all__ = ["trust_list"]


def _public_only(jwks: Any) -> dict[str, Any]:
    # Partner files hold public keys only (the registry refuses private members); keep the
    # members of a public JWK anyway, so nothing else can ever leak through this list.
    allowed = {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"}
    return {"keys": [{k: v for k, v in key.items() if k in allowed} for key in (jwks or {}).get("keys", [])]}


def trust_list(gw: Gateway) -> dict[str, Any]:
    crosswalks = {cw.local_scheme: cw for cw in gw.mappings.crosswalks.values()}
    entries = []
    for p in sorted(gw.partners.all(), key=lambda p: p.id):
        if p.kind != "city_platform" or not p.enabled or not p.issuer:
            continue
        schemes = sorted(s for s in gw.mappings.schemes if s.startswith(f"{p.id}/"))
        entries.append(
            {
                "id": p.id,
                "name": {"zh": p.name_zh, "en": p.name_en},
                "issuer": p.issuer,
                "jwks_uri": p.jwks_uri,
                "jwks": _public_only(p.jwks) if p.jwks_uri is None and p.jwks else None,
                "schemes": [
                    {
                        "scheme": s,
                        "crosswalk": (
                            {"id": crosswalks[s].id, "version": crosswalks[s].version, "digest": crosswalks[s].digest}
                            if s in crosswalks
                            else None
                        ),
                    }
                    for s in schemes
                ],
                "example": p.example,
            }
        )
    return {"common_scheme": "yrd-common/1", "issuers": entries}
