"""Issuing the credit code to the resident's wallet (OpenID4VCI 1.0 credential endpoint; measure
一(一): only a person with a live authorisation to be scored and a current score).

The resident authenticates with the real-name identity provider's ID token; the wallet proves the
key the credential will be bound to (``openid4vci-proof+jwt`` with a nonce from our nonce endpoint,
used once). The credential carries no ID number, no keyed hash and no stable subject: only
disclosable claims — tier, common level, one ``level_at_least`` boolean per common level (all
present), jurisdiction, the masked name, and the score only when the resident asks for it — plus
decoy digests so that every credential has the same number of top-level digests. A new credential
supersedes the person's earlier ones in the status list in the same transaction.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import insert, select, update

from gateway.clock import utcnow
from gateway.errors import (
    CredentialRefused,
    InvalidNonce,
    InvalidProof,
    UnsupportedCredentialConfiguration,
)
from gateway.exchange import Status
from gateway.exchange import key_proof as key_proofs
from gateway.exchange.sd_jwt import issue_sd_jwt
from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC
from gateway.services.context import Gateway
from gateway.services.credential.metadata import CONFIGURATION_ID, LEVELS, vct
from gateway.services.credential.nonces import consume_nonce
from gateway.services.credential.standing import Standing, current_standing
from gateway.services.exchange.issuance import JURISDICTION
from gateway.services.residents.resident_identity import Resident
from gateway.store.tables import status_slots
from gateway.store.tables_credential import credentials

__all__ = ["IssuedCredential", "issue_credential", "level_at_least"]

# Top-level digests in every credential, real plus decoys: with or without the score it is the same.
TOP_LEVEL_DIGESTS: Final = 6
_REFUSAL: Final = "No credit code can be issued: the person must be authorised to be scored and have a current score."


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    credential: str
    credential_id: str
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        # OpenID4VCI 1.0 §8.3: {"credentials": [{"credential": …}]}; expires_at is our addition.
        return {"credentials": [{"credential": self.credential}], "expires_at": int(self.expires_at.timestamp())}


def level_at_least(common_level: str) -> dict[str, bool]:
    """One boolean per common level, all of them: ``{"outstanding": False, "good": True, …}``."""
    rank = LEVELS.index(common_level) if common_level in LEVELS else len(LEVELS)
    return {lvl: rank <= i for i, lvl in enumerate(LEVELS)}


def _disclosable(standing: Standing, resident: Resident, include_score: bool) -> dict[str, Any]:
    tier = standing.tier
    claims: dict[str, Any] = {
        "tier": {"scheme": standing.scheme, "code": tier.code, "label": {"zh": tier.label_zh, "en": tier.label_en}},
        "regional_tier": {"scheme": standing.common_scheme, "level": standing.common_level},
        "jurisdiction": JURISDICTION,
        "name_masked": resident.name_masked,
    }
    if include_score:
        claims["score"] = {"value": standing.current.score, "max": 1000, "model": standing.current.model_version}
    return claims


def issue_credential(
    gw: Gateway, resident: Resident, *, configuration_id: str, proofs: list[str], include_score: bool = False
) -> IssuedCredential:
    """Issue a credit code bound to the key in the single key proof.

    :raises UnsupportedCredentialConfiguration: not ``sx-credit-code`` (400).
    :raises InvalidProof: not exactly one proof, or it fails a check (400, ``check`` names it).
    :raises InvalidNonce: the proof's nonce is unknown, expired or used (400).
    :raises CredentialRefused: not authorised to be scored or no current score (403, one wording).
    """
    if configuration_id != CONFIGURATION_ID:
        raise UnsupportedCredentialConfiguration("Only sx-credit-code is offered.")
    if len(proofs) != 1:
        raise InvalidProof("Send exactly one key proof.", check="count")
    try:
        proof = key_proofs.verify_key_proof(proofs[0], audience=gw.settings.issuer, now=time.time())
    except key_proofs.InvalidProof as exc:
        raise InvalidProof("The key proof failed a check.", check=str(exc)) from exc
    # The nonce is spent in its own transaction: a refused request must not leave it reusable.
    with gw.engine.begin() as conn:
        if not consume_nonce(conn, proof.nonce):
            raise InvalidNonce("Fetch a new nonce from the nonce endpoint.")
    key = gw.keyring.signing_key()  # before the transaction, as in assertion issuance
    now = utcnow()
    expires_at = now + timedelta(seconds=gw.settings.credential_lifetime)
    with gw.engine.begin() as conn:
        standing = current_standing(conn, gw, resident)
        if standing is None:
            raise CredentialRefused(_REFUSAL)
        earlier = select(credentials.c.id).where(
            credentials.c.person_id == standing.person_id, credentials.c.expires_at > now
        )
        conn.execute(
            update(status_slots)
            .where(status_slots.c.jti.in_(earlier), status_slots.c.status == int(Status.VALID))
            .values(status=int(Status.SUPERSEDED), updated_at=now)
        )
        credential_id = "crd_" + secrets.token_urlsafe(18)
        list_id, idx = gw.status_lists.allocate(conn, jti=credential_id, expires_at=expires_at)
        iat = int(now.timestamp())
        visible = {
            "iss": gw.settings.issuer,
            "iat": iat,  # no nbf: it would equal iat, and every byte counts in an offline QR code
            "exp": int(expires_at.timestamp()),
            "vct": vct(gw),
            "cnf": {"jwk": dict(proof.jwk)},
            "status": {"status_list": {"idx": idx, "uri": gw.status_lists.uri(list_id)}},
        }
        disclosable = _disclosable(standing, resident, include_score)
        issued, _ = issue_sd_jwt(
            visible,
            disclosable,
            key,
            TYP_SD_JWT_VC,
            nested={"level_at_least": level_at_least(standing.common_level)},
            decoys=TOP_LEVEL_DIGESTS - len(disclosable),
        )
        conn.execute(
            insert(credentials).values(
                id=credential_id,
                person_id=standing.person_id,
                vct=vct(gw),
                tier=standing.tier.code,
                score_id=standing.current.score_id,
                with_score=include_score,
                holder_thumbprint=proof.thumbprint,
                kid=key.kid,
                issued_at=now,
                expires_at=expires_at,
                status_list=list_id,
                status_idx=idx,
            )
        )
    return IssuedCredential(issued, credential_id, expires_at)
