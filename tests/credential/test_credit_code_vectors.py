"""The committed credit-code vectors keep verifying the same way (format stability)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.exchange import parse_jwks
from gateway.exchange.errors import InvalidToken
from gateway.exchange.sd_jwt_vc import SdJwtVcVerifier, TrustedIssuer

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "credit-code" / "presentations.json").read_text("utf-8")
)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_vector(case: dict) -> None:
    keys = parse_jwks({"keys": [VECTORS["issuer_jwk"]]}).keys
    trusted = TrustedIssuer(VECTORS["issuer"], keys, frozenset({VECTORS["vct"]}))
    verifier = SdJwtVcVerifier(issuers={trusted.issuer: trusted}, status_of=lambda ref: 0, now=lambda: VECTORS["now"])
    run = lambda: verifier.verify(  # noqa: E731
        case["presentation"], audience=VECTORS["audience"], nonce=VECTORS["nonce"], requested=case["requested"]
    )
    if "code" in case:
        with pytest.raises(InvalidToken) as info:
            run()
        assert info.value.code == case["code"]
    else:
        assert run().disclosed_claims() == case["disclosed"]
