"""Signing keys, public JWKs and JWK Sets (RFC 7517, RFC 7518 §6, RFC 8037, RFC 7638).

Rules this module enforces, and why:

- Every key is bound to exactly one algorithm (RFC 8725 §3.1): ES256 on P-256, EdDSA on
  Ed25519, PS256 on RSA of at least 2048 bits. The verifier never lets the token's ``alg``
  choose how a key is used.
- Keys are parsed once, into ``cryptography`` key objects, when a key file or a JWK Set is
  loaded — never per request (parsing RSA keys per request is a known latency trap).
- Our ``kid`` is the RFC 7638 SHA-256 thumbprint of the public JWK, so it is stable across
  restarts and derivable by anyone holding the public key.
- A partner's JWK Set is read defensively: keys we cannot use (unknown ``kty``, other curves,
  ``use`` other than ``sig``, disallowed ``alg``, bad material) are skipped and reported, as
  RFC 7517 §5 asks, so one post-quantum or encryption key does not take the whole set down. A
  set that publishes *private* members is refused whole: its publisher has leaked its keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.exchange._b64 import b64url_decode, b64url_encode
from gateway.exchange.errors import JwksInvalid, KeyMaterialError

__all__ = [
    "MIN_RSA_BITS",
    "SUPPORTED_ALGORITHMS",
    "ParsedJwks",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "SkippedKey",
    "VerificationKey",
    "generate_signing_key",
    "jwk_thumbprint",
    "jwks_document",
    "load_signing_key",
    "parse_jwks",
    "read_signing_key",
    "write_signing_key",
]

SUPPORTED_ALGORITHMS: Final[frozenset[str]] = frozenset({"ES256", "EdDSA", "PS256"})
MIN_RSA_BITS: Final = 2048
_GENERATED_RSA_BITS: Final = 3072
_MAX_KID_LENGTH: Final = 256
_MAX_KEYS_PER_SET: Final = 100
# JWK members that hold secret material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# RFC 7638 §3.2: the required members, per key type, that enter the thumbprint.
_THUMBPRINT_MEMBERS: Final = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}

PublicKey = ec.EllipticCurvePublicKey | Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | Ed25519PrivateKey | rsa.RSAPrivateKey


def _binding_problem(alg: str, key: PublicKey) -> str | None:
    """Why ``key`` cannot be used with ``alg``, or ``None`` when the pair is one we accept."""
    if alg == "ES256":
        ok = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
        return None if ok else "ES256 needs a P-256 key"
    if alg == "EdDSA":
        return None if isinstance(key, Ed25519PublicKey) else "EdDSA needs an Ed25519 key"
    if alg == "PS256":
        if not isinstance(key, rsa.RSAPublicKey):
            return "PS256 needs an RSA key"
        return None if key.key_size >= MIN_RSA_BITS else f"RSA keys need at least {MIN_RSA_BITS} bits"
    return "unsupported algorithm"


def _algorithm_for(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, Ed25519PublicKey):
        return "EdDSA"
    return "PS256"


def _public_members(key: PublicKey) -> dict[str, str]:
    """The RFC 7518/8037 public members of ``key``, with fixed-width EC coordinates."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    rsa_numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "n": b64url_encode(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url_encode(rsa_numbers.e.to_bytes((rsa_numbers.e.bit_length() + 7) // 8, "big")),
    }


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of ``jwk``, base64url without padding.

    Only the required members of the key type enter the hash, in lexicographic order, with no
    whitespace; ``kid``, ``alg``, ``use`` and private members never change it.

    :raises KeyMaterialError: unknown ``kty`` or a required member missing or not a string.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise KeyMaterialError("The JWK has no key type we can thumbprint.")
    if not all(isinstance(jwk.get(name), str) for name in members):
        raise KeyMaterialError("The JWK lacks a required member for its key type.")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key bound to exactly one algorithm, looked up by ``kid``."""

    kid: str
    alg: str
    key: PublicKey = field(repr=False)

    def __post_init__(self) -> None:
        problem = _binding_problem(self.alg, self.key)
        if problem is not None:
            raise KeyMaterialError(f"The key cannot be bound to its algorithm: {problem}.")
        if not self.kid or len(self.kid) > _MAX_KID_LENGTH:
            raise KeyMaterialError("A verification key needs a kid of 1 to 256 characters.")

    def public_jwk(self) -> dict[str, str]:
        """The JWK to publish: key members plus ``kid``, ``use="sig"`` and ``alg``."""
        return {**_public_members(self.key), "kid": self.kid, "use": "sig", "alg": self.alg}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One of our private keys, its algorithm and its ``kid`` (the RFC 7638 thumbprint)."""

    kid: str
    alg: str
    private_key: PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        problem = _binding_problem(self.alg, self.private_key.public_key())
        if problem is not None:
            raise KeyMaterialError(f"The key cannot be bound to its algorithm: {problem}.")

    @classmethod
    def from_private_key(cls, private_key: PrivateKey, alg: str | None = None) -> SigningKey:
        public = private_key.public_key()
        chosen = alg or _algorithm_for(public)
        problem = _binding_problem(chosen, public)
        if problem is not None:
            raise KeyMaterialError(f"The key cannot be bound to its algorithm: {problem}.")
        return cls(jwk_thumbprint(_public_members(public)), chosen, private_key)

    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.kid, self.alg, self.private_key.public_key())

    def public_jwk(self) -> dict[str, str]:
        return self.verification_key().public_jwk()

    def private_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM; encrypted with the best available scheme when a password is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def generate_signing_key(alg: str = "ES256") -> SigningKey:
    """A fresh key for ``alg``: P-256 for ES256 (default), Ed25519 for EdDSA, RSA-3072 for PS256."""
    private_key: PrivateKey
    if alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private_key = Ed25519PrivateKey.generate()
    elif alg == "PS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=_GENERATED_RSA_BITS)
    else:
        raise KeyMaterialError("Keys can only be generated for ES256, EdDSA or PS256.")
    return SigningKey.from_private_key(private_key, alg)


def load_signing_key(pem: bytes, *, password: bytes | None = None, alg: str | None = None) -> SigningKey:
    """Parse a PEM private key once; the algorithm follows from the key unless ``alg`` is given.

    :raises KeyMaterialError: not a PEM private key, wrong password, or a key type/size that
        cannot be bound to ES256, EdDSA or PS256.
    """
    try:
        private_key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The library's message may quote parts of the input; ours does not.
        raise KeyMaterialError("The PEM data is not a usable private key.") from exc
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise KeyMaterialError("Only P-256, Ed25519 and RSA private keys are supported.")
    return SigningKey.from_private_key(private_key, alg)


def read_signing_key(path: str | os.PathLike[str], *, password: bytes | None = None) -> SigningKey:
    """Read and parse a PEM private key file (once, at start-up or rotation)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyMaterialError("The private key file cannot be read.") from exc
    return load_signing_key(data, password=password)


def write_signing_key(key: SigningKey, path: str | os.PathLike[str], *, password: bytes | None = None) -> None:
    """Write ``key`` as PKCS#8 PEM with mode 0600, atomically, never replacing an existing file.

    The PEM is written and fsynced under a temporary name created 0600 in the target directory,
    then hard-linked to the target name: the link either creates the complete file or fails
    because the name exists, so a crash never leaves a half-written key and a rotation never
    silently overwrites the previous key.

    :raises KeyMaterialError: the target already exists.
    """
    target = Path(path)
    data = key.private_pem(password)
    fd, temporary = tempfile.mkstemp(prefix=".key-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError as exc:
            raise KeyMaterialError("A key file already exists at the target; it is not replaced.") from exc
    finally:
        os.unlink(temporary)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def jwks_document(keys: Iterable[SigningKey | VerificationKey]) -> dict[str, list[dict[str, str]]]:
    """The public JWK Set to publish (private members can never appear: only public keys are read)."""
    return {"keys": [key.public_jwk() for key in keys]}


@dataclass(frozen=True, slots=True)
class SkippedKey:
    """A JWK that was left out of a parsed set; ``kid`` is ``None`` when it had no usable one."""

    kid: str | None
    reason: str


class ParsedJwks(NamedTuple):
    keys: dict[str, VerificationKey]
    skipped: list[SkippedKey]


def _decode_member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ValueError(f"missing {name}")
    return b64url_decode(value)


def _parse_jwk(jwk: Any, allowed_algs: Collection[str]) -> VerificationKey | SkippedKey:
    if not isinstance(jwk, dict):
        return SkippedKey(None, "not_an_object")
    kid = jwk.get("kid")
    usable_kid = kid if isinstance(kid, str) and 0 < len(kid) <= _MAX_KID_LENGTH else None
    kty = jwk.get("kty")
    natural_alg = {"EC": "ES256", "OKP": "EdDSA", "RSA": "PS256"}.get(kty) if isinstance(kty, str) else None
    if natural_alg is None:
        return SkippedKey(usable_kid, "unsupported_kty")
    if usable_kid is None:
        return SkippedKey(None, "missing_kid")
    if jwk.get("use", "sig") != "sig":
        return SkippedKey(usable_kid, "use_not_sig")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return SkippedKey(usable_kid, "key_ops_without_verify")
    if kty != "RSA" and jwk.get("crv") != {"EC": "P-256", "OKP": "Ed25519"}[str(kty)]:
        return SkippedKey(usable_kid, "unsupported_crv")
    # Without "alg" a key is bound to the one algorithm we use with its type (RSA: PS256 only).
    alg = jwk.get("alg", natural_alg)
    if not isinstance(alg, str) or alg not in allowed_algs or alg not in SUPPORTED_ALGORITHMS:
        return SkippedKey(usable_kid, "alg_not_allowed")
    if alg != natural_alg:
        return SkippedKey(usable_kid, "alg_does_not_match_key")
    try:
        key: PublicKey
        if kty == "EC":
            x, y = _decode_member(jwk, "x"), _decode_member(jwk, "y")
            if len(x) != 32 or len(y) != 32:
                raise ValueError("P-256 coordinates are 32 bytes")
            # from_encoded_point rejects points that are not on the curve (RFC 8725 §3.4).
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
        elif kty == "OKP":
            key = Ed25519PublicKey.from_public_bytes(_decode_member(jwk, "x"))
        else:
            n = int.from_bytes(_decode_member(jwk, "n"), "big")
            e = int.from_bytes(_decode_member(jwk, "e"), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
            if key.key_size < MIN_RSA_BITS:
                return SkippedKey(usable_kid, "key_too_small")
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return SkippedKey(usable_kid, "invalid_material")
    return VerificationKey(usable_kid, alg, key)


def parse_jwks(doc: Any, allowed_algs: Collection[str] = SUPPORTED_ALGORITHMS) -> ParsedJwks:
    """Parse a partner's JWK Set into ``{kid: VerificationKey}`` plus the keys that were skipped.

    Skipped (with a reason): unknown ``kty``, curves other than P-256/Ed25519, ``use`` other than
    ``sig``, ``key_ops`` without ``verify``, missing ``kid``, ``alg`` not in ``allowed_algs`` or
    not matching the key type, RSA under 2048 bits, invalid material (including EC points off
    the curve), and every key of a ``kid`` that appears more than once (ambiguous).

    :raises JwksInvalid: ``doc`` is not a JWK Set, holds more than 100 keys, or publishes private
        key members (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``oth``, ``k``).
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise JwksInvalid("The document is not a JWK Set.", reason="not_a_jwk_set")
    entries: list[Any] = doc["keys"]
    if len(entries) > _MAX_KEYS_PER_SET:
        raise JwksInvalid("The JWK Set has too many keys.", reason="too_many_keys")
    if any(isinstance(jwk, dict) and _PRIVATE_MEMBERS & jwk.keys() for jwk in entries):
        raise JwksInvalid(
            "The JWK Set publishes private key material; none of its keys is trusted.",
            reason="private_key_material",
        )
    keys: dict[str, VerificationKey] = {}
    skipped: list[SkippedKey] = []
    duplicated: set[str] = set()
    for jwk in entries:
        parsed = _parse_jwk(jwk, allowed_algs)
        if isinstance(parsed, SkippedKey):
            skipped.append(parsed)
        elif parsed.kid in keys or parsed.kid in duplicated:
            duplicated.add(parsed.kid)
            keys.pop(parsed.kid, None)
        else:
            keys[parsed.kid] = parsed
    skipped.extend(SkippedKey(kid, "duplicate_kid") for kid in sorted(duplicated))
    return ParsedJwks(keys, skipped)
