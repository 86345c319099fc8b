"""Verifying a credit-code presentation against its reference, in one process, same token.

The gateway's :class:`SdJwtVcVerifier` does everything a verifier must: parse and bound the
presentation, the issuer-signed JWT's header and claims checks and signature, trust and ``vct``,
``_sd_alg``, the status from the cached (already decoded) list, every disclosure's digest exactly
once, the KB-JWT's header, signature, ``aud``, ``nonce``, ``iat`` and ``sd_hash``, and what was
asked. The reference does only the two signature checks (PyJWT, the same library and key objects)
and the digest comparison (each disclosure's SHA-256 found in ``_sd``, and ``sd_hash``). Both run
alternately for the same wall time; the ratio is gateway ops/s over reference ops/s.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable
from typing import Any

import jwt

from gateway.exchange import StatusList, generate_signing_key
from gateway.exchange.sd_jwt import issue_sd_jwt
from gateway.exchange.sd_jwt_vc import TYP_SD_JWT_VC, SdJwtVcVerifier, TrustedIssuer, present

__all__ = ["TARGET_PRESENTATION_RATIO", "measure_presentation"]

TARGET_PRESENTATION_RATIO = 0.5
ISSUER = "https://score-gateway.shaoxing.example"
VCT = ISSUER + "/credentials/credit-code/v1"
AUD, NONCE = "sx-scenic-example", "bench-nonce"
ASK = ["level_at_least.good"]


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def _setup() -> tuple[str, SdJwtVcVerifier, Callable[[str], bool]]:
    issuer_key, holder = generate_signing_key(), generate_signing_key()
    lst = StatusList(2, 1 << 20)  # the decoded cached list: a verification reads one entry
    now = int(time.time())
    visible = {
        "iss": ISSUER,
        "iat": now,
        "exp": now + 30 * 86400,
        "vct": VCT,
        "cnf": {"jwk": holder.public_jwk()},
        "status": {"status_list": {"idx": secrets.randbelow(1 << 20), "uri": ISSUER + "/status-lists/1"}},
    }
    levels = ("outstanding", "good", "fair", "basic", "low")
    issued, _ = issue_sd_jwt(
        visible,
        {
            "tier": {"scheme": "sx-integrity/2026.1", "code": "B", "label": {"zh": "诚信良好", "en": "Good"}},
            "regional_tier": {"scheme": "yrd-common/1", "level": "good"},
            "jurisdiction": {"city": "330600", "province": "330000"},
            "name_masked": "张*",
        },
        issuer_key,
        TYP_SD_JWT_VC,
        nested={"level_at_least": {lvl: i >= 1 for i, lvl in enumerate(levels)}},
        decoys=2,
    )
    token = present(issued, holder, ASK, aud=AUD, nonce=NONCE)
    trusted = TrustedIssuer(ISSUER, {issuer_key.kid: issuer_key.verification_key()}, frozenset({VCT}))
    verifier = SdJwtVcVerifier(issuers={ISSUER: trusted}, status_of=lambda ref: lst.get(ref.idx))
    issuer_public, holder_public = issuer_key.verification_key().key, holder.verification_key().key

    def reference(presentation: str) -> bool:
        head, *disclosures, kb = presentation.split("~")
        payload = jwt.decode(head, issuer_public, algorithms=["ES256"], options={"verify_exp": False})
        jwt.decode(kb, holder_public, algorithms=["ES256"], audience=AUD)
        digests = set(payload["_sd"]) | set(payload["level_at_least"]["_sd"])
        ok = all(_b64(hashlib.sha256(d.encode()).digest()) in digests for d in disclosures)
        kb_claims = json.loads(urlsafe_b64decode(kb.split(".")[1] + "=="))
        presented = presentation[: presentation.rindex("~") + 1]
        return ok and kb_claims["sd_hash"] == _b64(hashlib.sha256(presented.encode()).digest())

    return token, verifier, reference


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed


def measure_presentation(duration: float, warmup: float) -> dict[str, Any]:
    token, verifier, reference = _setup()

    def ours() -> Any:
        return verifier.verify(token, audience=AUD, nonce=NONCE, requested=ASK)

    def ref() -> bool:
        return reference(token)

    assert ref() and ours().disclosed == set(ASK)
    _rate(ours, warmup)
    _rate(ref, warmup)
    # Alternately, four rounds each, so that a burst of other load hits both sides alike.
    ours_rates, ref_rates = [], []
    for _ in range(4):
        ours_rates.append(_rate(ours, duration / 8))
        ref_rates.append(_rate(ref, duration / 8))
    ours_rate, ref_rate = sum(ours_rates) / 4, sum(ref_rates) / 4
    return {
        "gateway_ops_per_s": round(ours_rate, 1),
        "reference_ops_per_s": round(ref_rate, 1),
        "ratio": round(ours_rate / ref_rate, 3),
        "presentation_bytes": len(token),
        "note": "in process, one core; reference = two PyJWT signature checks + digest comparison, same token",
    }
