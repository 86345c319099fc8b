"""Building SD-JWT VCs and presentations for the credential tests (the exchange layer only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.exchange import SigningKey, generate_signing_key
from gateway.exchange.kb_jwt import make_kb_jwt
from gateway.exchange.sd_jwt import issue_sd_jwt, select_disclosures
from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC, SdJwtVcVerifier, TrustedIssuer

ISSUER = "https://score-gateway.test"
VCT = f"{ISSUER}/credentials/credit-code/v1"
VERIFIER = "hz-scenic-example"
NOW = 1_800_000_000
LEVELS = ("outstanding", "good", "fair", "basic", "low")


@dataclass
class World:
    issuer_key: SigningKey = field(default_factory=generate_signing_key)
    holder_key: SigningKey = field(default_factory=generate_signing_key)
    now: float = NOW
    statuses: dict[int, int] = field(default_factory=dict)

    def issue(self, *, visible: Mapping[str, Any] | None = None, typ: str = TYP_SD_JWT_VC, **over: Any) -> str:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "iat": NOW - 60,
            "exp": NOW + 86400,
            "vct": VCT,
            "cnf": {"jwk": self.holder_key.public_jwk()},
            "status": {"status_list": {"idx": 7, "uri": f"{ISSUER}/status-lists/1"}},
        }
        claims.update(visible or {})
        for name, value in over.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        issued, _ = issue_sd_jwt(
            claims,
            {"tier": {"scheme": "sx-integrity/2026.1", "code": "B"}, "name_masked": "张*"},
            self.issuer_key,
            typ,
            nested={"level_at_least": {lvl: lvl in ("good", "fair", "basic", "low") for lvl in LEVELS}},
            decoys=3,
        )
        return issued

    def present(
        self,
        issued: str,
        paths: Sequence[str],
        *,
        aud: str = VERIFIER,
        nonce: str = "n-1",
        iat: float | None = None,
        key: SigningKey | None = None,
    ) -> str:
        presented = select_disclosures(issued, paths)
        kb = make_kb_jwt(
            presented, key or self.holder_key, aud=aud, nonce=nonce, iat=int(self.now if iat is None else iat)
        )
        return presented + kb

    def verifier(self, **over: Any) -> SdJwtVcVerifier:
        trusted = TrustedIssuer(ISSUER, {self.issuer_key.kid: self.issuer_key.verification_key()}, frozenset({VCT}))
        kwargs: dict[str, Any] = {
            "issuers": {ISSUER: trusted},
            "status_of": lambda ref: self.statuses.get(ref.idx, 0),
            "now": lambda: self.now,
        }
        kwargs.update(over)
        return SdJwtVcVerifier(**kwargs)
