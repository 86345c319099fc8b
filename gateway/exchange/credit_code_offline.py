"""Verify a Shaoxing credit code shown offline as a QR code — a module a partner can copy.

It needs only PyJWT (``pip install "pyjwt[crypto]"``) and the standard library, and imports
nothing else of the gateway. Keep a copy of the issuer's JWKS (``/.well-known/jwks.json``) and,
refreshed whenever you are online, its status list (``/status-lists/1``, ``statuslist+jwt``).

    from credit_code_offline import verify_offline
    claims = verify_offline(qr_text, jwks=jwks, status_list_jwt=cached_list,
                            issuer="https://score-gateway.shaoxing.example",
                            verifier_kind="incentive_provider")
    # {"level_at_least.good": True}

What offline mode cannot prevent: the QR code can be replayed, within its 120 seconds, to another
verifier of the same kind (a photo of the phone screen works at the next counter). There is no
nonce from the verifier, so nothing ties the code to this counter; the KB-JWT only proves the
phone's key signed it recently. A status change reaches you only when you next refresh the list.
Where that matters, use the online, verifier-first flow.

Raises :class:`OfflineRejected` whose ``code`` is the gateway's problem code for the same check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from typing import Any

import jwt

__all__ = ["OfflineRejected", "verify_offline"]

MAX_BYTES = 16 * 1024
VCT_PATH = "/credentials/credit-code/v1"


class OfflineRejected(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode("ascii")).digest()).rstrip(b"=").decode()


def _header(token: str, typ: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OfflineRejected("presentation_malformed") from exc
    if any(name in header for name in ("jku", "x5u", "jwk", "x5c", "crit")):
        raise OfflineRejected("forbidden_header")
    if str(header.get("typ", "")).lower().removeprefix("application/") != typ:
        raise OfflineRejected("key_binding_type_mismatch" if typ == "kb+jwt" else "token_type_mismatch")
    if header.get("alg") != "ES256":
        raise OfflineRejected("algorithm_not_allowed")
    return header


def _issuer_key(jwks: dict[str, Any], kid: Any) -> jwt.PyJWK:
    for jwk in jwks.get("keys", []):
        if jwk.get("kid") == kid and jwk.get("kty") == "EC":
            return jwt.PyJWK(jwk, algorithm="ES256")
    raise OfflineRejected("unknown_key")


def _status(status_list_jwt: str, jwks: dict[str, Any], issuer: str, ref: dict[str, Any]) -> int:
    header = _header(status_list_jwt, "statuslist+jwt")
    claims = jwt.decode(
        status_list_jwt, _issuer_key(jwks, header.get("kid")), algorithms=["ES256"], issuer=issuer, leeway=10
    )
    if claims.get("sub") != ref["uri"]:
        raise OfflineRejected("subject_mismatch")
    bits = claims["status_list"]["bits"]
    data = zlib.decompress(_b64d(claims["status_list"]["lst"]))
    idx = ref["idx"]
    byte, shift = divmod(idx * bits, 8)
    if byte >= len(data):
        raise OfflineRejected("status_list_invalid")
    return int((data[byte] >> shift) & ((1 << bits) - 1))


def verify_offline(
    presentation: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    verifier_kind: str,
    status_list_jwt: str | None,
    max_age: float = 120,
    now: float | None = None,
) -> dict[str, Any]:
    """The disclosed claims by path, or :class:`OfflineRejected`."""
    now = time.time() if now is None else now
    if len(presentation) > MAX_BYTES or not presentation.isascii():
        raise OfflineRejected("presentation_too_large")
    parts = presentation.split("~")
    if len(parts) < 2 or not parts[-1]:
        raise OfflineRejected("key_binding_missing" if len(parts) >= 2 else "presentation_malformed")
    issuer_jwt, disclosures, kb = parts[0], parts[1:-1], parts[-1]
    header = _header(issuer_jwt, "dc+sd-jwt")
    try:
        payload = jwt.decode(
            issuer_jwt,
            _issuer_key(jwks, header.get("kid")),
            algorithms=["ES256"],
            issuer=issuer,
            leeway=10,
            options={"require": ["iss", "iat", "exp", "vct", "cnf"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise OfflineRejected("token_expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise OfflineRejected("token_not_yet_valid") from exc
    except jwt.InvalidIssuerError as exc:
        raise OfflineRejected("issuer_not_trusted") from exc
    except jwt.InvalidSignatureError as exc:
        raise OfflineRejected("bad_signature") from exc
    except jwt.PyJWTError as exc:
        raise OfflineRejected("presentation_malformed") from exc
    if payload["vct"] != issuer + VCT_PATH:
        raise OfflineRejected("credential_type_unknown")
    if payload.get("_sd_alg", "sha-256") != "sha-256":
        raise OfflineRejected("sd_alg_not_allowed")
    ref = payload.get("status", {}).get("status_list")
    if ref is not None and status_list_jwt is not None and _status(status_list_jwt, jwks, issuer, ref) != 0:
        raise OfflineRejected("credential_revoked")
    # Digests: the top-level _sd and the _sd of each visible object (level_at_least).
    where: dict[str, str] = {}
    for prefix, node in [("", payload), *((f"{k}.", v) for k, v in payload.items() if isinstance(v, dict))]:
        for value in node.get("_sd", []):
            if value in where:
                raise OfflineRejected("disclosure_duplicated")
            where[value] = prefix
    claims: dict[str, Any] = {}
    for encoded in disclosures:
        prefix = where.pop(_digest(encoded), "-")
        if prefix == "-":
            raise OfflineRejected("disclosure_unreferenced")  # or presented twice
        try:
            _salt, name, value = json.loads(_b64d(encoded))
        except ValueError as exc:
            raise OfflineRejected("disclosure_malformed") from exc
        claims[prefix + name] = value
    holder = jwt.PyJWK(payload["cnf"]["jwk"], algorithm="ES256")
    _header(kb, "kb+jwt")
    try:
        kb_claims = jwt.decode(kb, holder, algorithms=["ES256"], audience=verifier_kind, options={"verify_iat": False})
    except jwt.InvalidAudienceError as exc:
        raise OfflineRejected("key_binding_audience_mismatch") from exc
    except jwt.PyJWTError as exc:
        raise OfflineRejected("key_binding_signature_invalid") from exc
    iat = kb_claims.get("iat")
    if not isinstance(iat, int | float) or not now - max_age <= iat <= now + 10:
        raise OfflineRejected("key_binding_stale")
    if kb_claims.get("sd_hash") != _digest(presentation[: presentation.rindex("~") + 1]):
        raise OfflineRejected("sd_hash_mismatch")
    return claims
