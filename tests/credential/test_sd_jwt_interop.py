"""Interoperability with an independent SD-JWT implementation, both ways.

The reference implementation (``sd-jwt`` on PyPI, openwallet-foundation-labs/sd-jwt-python,
jwcrypto underneath) verifies presentations we make; we verify credentials and presentations it
makes. It checks the issuer signature, the disclosures' digests, the KB-JWT's typ, aud, nonce and
sd_hash — the format, on code we did not write.
"""

from __future__ import annotations

import json
import time

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from gateway.exchange import SigningKey
from gateway.exchange.errors import DisclosureNotRequested
from gateway.exchange.keys import VerificationKey, parse_jwks
from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC, SdJwtVcVerifier, TrustedIssuer
from tests.credential.credential_support import ISSUER, VCT, VERIFIER, World


def as_jwcrypto(key: SigningKey, *, private: bool) -> JWK:
    return JWK.from_pem(key.private_pem()) if private else JWK.from_json(json.dumps(key.public_jwk()))


def test_the_reference_implementation_verifies_our_presentation() -> None:
    w = World()
    presentation = w.present(w.issue(), ["level_at_least.good", "tier"], nonce="n-42", iat=time.time())
    verifier = SDJWTVerifier(
        presentation,
        lambda iss, header: as_jwcrypto(w.issuer_key, private=False),
        expected_aud=VERIFIER,
        expected_nonce="n-42",
    )
    claims = verifier.get_verified_payload()
    assert claims["level_at_least"] == {"good": True}
    assert claims["tier"]["code"] == "B"
    assert "name_masked" not in claims and claims["vct"] == VCT


def test_the_reference_implementation_detects_tampering_with_ours() -> None:
    w = World()
    presentation = w.present(w.issue(), ["level_at_least.good"], nonce="n-42")
    with pytest.raises(ValueError, match="nonce"):
        SDJWTVerifier(presentation, lambda iss, h: as_jwcrypto(w.issuer_key, private=False), VERIFIER, "another-nonce")


def reference_credential(w: World, now: int) -> str:
    issuer_key = as_jwcrypto(w.issuer_key, private=True)
    holder_key = as_jwcrypto(w.holder_key, private=True)
    claims = {
        "iss": ISSUER,
        "iat": now - 60,
        "exp": now + 3600,
        "vct": VCT,
        SDObj("name_masked"): "李*",
        SDObj("jurisdiction"): {"city": "330600"},
        "level_at_least": {SDObj("good"): True, SDObj("outstanding"): False},
    }
    issuer = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key,
        add_decoy_claims=True,
        extra_header_parameters={"typ": TYP_SD_JWT_VC, "kid": w.issuer_key.kid},
    )
    return issuer.sd_jwt_issuance


def test_we_verify_a_presentation_made_by_the_reference_implementation() -> None:
    w = World()
    # The reference holder stamps the KB-JWT's iat with the wall clock: everything runs on it.
    holder = SDJWTHolder(reference_credential(w, int(time.time())))
    holder.create_presentation(
        {"level_at_least": {"good": True}},
        nonce="n-7",
        aud=VERIFIER,
        holder_key=as_jwcrypto(w.holder_key, private=True),
    )
    trusted = TrustedIssuer(ISSUER, {w.issuer_key.kid: w.issuer_key.verification_key()}, frozenset({VCT}))
    verifier = SdJwtVcVerifier(issuers={ISSUER: trusted}, status_of=None)
    result = verifier.verify(
        holder.sd_jwt_presentation, audience=VERIFIER, nonce="n-7", requested=["level_at_least.good"]
    )
    assert result.disclosed_claims() == {"level_at_least.good": True}


def test_we_refuse_a_reference_presentation_that_over_discloses() -> None:
    w = World()
    holder = SDJWTHolder(reference_credential(w, int(time.time())))
    holder.create_presentation(
        {"level_at_least": {"good": True}, "name_masked": True},
        nonce="n-7",
        aud=VERIFIER,
        holder_key=as_jwcrypto(w.holder_key, private=True),
    )
    trusted = TrustedIssuer(ISSUER, {w.issuer_key.kid: w.issuer_key.verification_key()}, frozenset({VCT}))
    verifier = SdJwtVcVerifier(issuers={ISSUER: trusted}, status_of=None)
    with pytest.raises(DisclosureNotRequested):
        verifier.verify(holder.sd_jwt_presentation, audience=VERIFIER, nonce="n-7", requested=["level_at_least.good"])


def test_the_holder_key_from_a_reference_cnf_is_usable() -> None:
    w = World()
    jwk = as_jwcrypto(w.holder_key, private=False).export_public(as_dict=True)
    parsed = parse_jwks({"keys": [{**jwk, "kid": "x"}]}).keys["x"]
    assert isinstance(parsed, VerificationKey)
