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

The QR code's text is the compact form (:func:`encode_offline`): ``SXCC1:`` then Base45
(RFC 9285) of the zlib-compressed bytes behind the presentation's base64url segments, which QR
alphanumeric mode stores at 5.5 bits a character instead of 8 (the EU Digital COVID Certificate's
``HC1:`` does the same). :func:`verify_offline` also accepts the plain presentation (``~``-separated
base64url), as codes made before the compact form were.

Raises :class:`OfflineRejected` whose ``code`` is the gateway's problem code for the same check
(``str(exc)`` says more for a compact code that cannot be decoded).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from typing import Any

import jwt

__all__ = ["PREFIX", "OfflineRejected", "decode_offline", "encode_offline", "verify_offline"]

MAX_BYTES = 16 * 1024
VCT_PATH = "/credentials/credit-code/v1"


class OfflineRejected(Exception):
    def __init__(self, code: str, reason: str | None = None) -> None:
        super().__init__(reason or code)
        self.code = code


# --- the compact form of the QR code's text -------------------------------------------------
#
# Packed bytes: [number of "~" parts] then, per part, [number of "." segments] and per segment
# [length, 2 bytes big-endian][the segment's base64url decoded]. zlib (level 9), then Base45.
# The decoder rebuilds canonical unpadded base64url, which is what issuers and wallets write.
# A presentation written otherwise (non-zero padding bits) comes back as different text; whatever
# was signed or hashed over the non-canonical text then fails its signature, digest or sd_hash
# check: safe, it can never turn into a different valid presentation.

PREFIX = "SXCC1:"
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUE = {c: i for i, c in enumerate(B45)}
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_PACKED = MAX_BYTES  # decompressed bytes: at most this (a zlib bomb stops here)


def _malformed(reason: str) -> OfflineRejected:
    return OfflineRejected("presentation_malformed", f"compact credit code: {reason}")


def b45encode(data: bytes) -> str:
    """RFC 9285 Base45: two bytes → three characters, a last odd byte → two."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [B45[n % 45], B45[n // 45 % 45], B45[n // 2025]]
    if len(data) % 2:
        out += [B45[data[-1] % 45], B45[data[-1] // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """RFC 9285 Base45, strictly: unknown characters, a length of 3k+1 and values above 65535
    (a triple) or 255 (a final pair) are refused with :class:`OfflineRejected`."""
    if len(text) % 3 == 1:
        raise _malformed("Base45 length is 3k+1")
    try:
        values = [_B45_VALUE[c] for c in text]
    except KeyError:
        raise _malformed("a character outside the Base45 alphabet") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise _malformed("a Base45 triple above 65535")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise _malformed("a Base45 pair above 255")
            out.append(n)
    return bytes(out)


def encode_offline(presentation: str) -> str:
    """The QR code's text for a presentation: ``SXCC1:`` + Base45(zlib(packed segments))."""
    if len(presentation) > MAX_BYTES or not presentation.isascii():
        raise OfflineRejected("presentation_too_large")
    parts = presentation.split("~")
    if len(parts) > 255:
        raise OfflineRejected("presentation_too_large")
    packed = bytearray([len(parts)])
    for part in parts:
        segments = part.split(".")
        if len(segments) > 255:
            raise _malformed("too many segments")
        packed.append(len(segments))
        for segment in segments:
            if not set(segment) <= _B64URL or len(segment) % 4 == 1:
                raise _malformed("a segment that is not base64url")
            raw = _b64d(segment)
            packed += len(raw).to_bytes(2, "big") + raw
    return PREFIX + b45encode(zlib.compress(bytes(packed), 9))


def decode_offline(text: str) -> str:
    """The presentation a compact code holds; :class:`OfflineRejected` for anything else.

    Decompression stops at :data:`MAX_PACKED` bytes, so a small code cannot expand into memory."""
    if not text.startswith(PREFIX):
        raise _malformed(f"it does not start with {PREFIX}")
    body = text[len(PREFIX) :]
    if len(body) > MAX_BYTES:
        raise OfflineRejected("presentation_too_large")
    inflater = zlib.decompressobj()
    try:
        packed = inflater.decompress(b45decode(body), MAX_PACKED + 1)
    except zlib.error:
        raise _malformed("not zlib data") from None
    if len(packed) > MAX_PACKED or inflater.unconsumed_tail:
        raise OfflineRejected("presentation_too_large", "compact credit code: it expands beyond the bound")
    if not inflater.eof or inflater.unused_data:
        raise _malformed("truncated or followed by extra bytes")
    parts, at = [], 1
    if not packed:
        raise _malformed("empty")
    for _ in range(packed[0]):
        if at >= len(packed):
            raise _malformed("truncated structure")
        count, at = packed[at], at + 1
        segments = []
        for _ in range(count):
            if at + 2 > len(packed):
                raise _malformed("truncated structure")
            size = int.from_bytes(packed[at : at + 2], "big")
            raw, at = packed[at + 2 : at + 2 + size], at + 2 + size
            if len(raw) != size:
                raise _malformed("truncated structure")
            segments.append(base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"))
        parts.append(".".join(segments))
    if at != len(packed):
        raise _malformed("bytes after the structure")
    presentation = "~".join(parts)
    if len(presentation) > MAX_BYTES:
        raise OfflineRejected("presentation_too_large")
    return presentation


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
    """The disclosed claims by path, or :class:`OfflineRejected`; ``presentation`` is the compact
    form (``SXCC1:…``) or the plain presentation."""
    now = time.time() if now is None else now
    if presentation.startswith(PREFIX):
        presentation = decode_offline(presentation)
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
