"""Selective Disclosure for JWTs (RFC 9901): disclosures, digests, the compact ``~`` form.

The issuer puts the SHA-256 digest of each disclosure (``[salt, name, value]``, base64url) in an
``_sd`` array, mixes in decoy digests, and signs; the holder presents the issuer-signed JWT with
only the disclosures it chooses, then a Key Binding JWT (``kb_jwt.py``). This module holds the
format only — which claims a credential has is ``sd_jwt_vc.py``'s and the services' business.

Hand-written rather than taken from the reference ``sd-jwt`` package: that package pulls in
jwcrypto and PyYAML next to PyJWT, signs with whatever the caller passes, and leaves ``exp``/
``nbf`` and duplicate checks to the caller; here signing goes through :func:`gateway.exchange.sign`
(header fixed by our key) and every RFC 9901 §7.1 check raises its own error. The reference
package is a test dependency: the interoperability tests run it against this module both ways.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gateway.exchange._b64 import b64url_decode, b64url_encode
from gateway.exchange.errors import (
    DisclosureDuplicated,
    DisclosureMalformed,
    DisclosureUnreferenced,
    PresentationMalformed,
    PresentationTooLarge,
    SdAlgNotAllowed,
)
from gateway.exchange.jws import sign
from gateway.exchange.keys import SigningKey

__all__ = [
    "MAX_DISCLOSURES",
    "MAX_PRESENTATION_BYTES",
    "SD_ALG",
    "Disclosure",
    "SdJwt",
    "check_sd_alg",
    "digest",
    "issue_sd_jwt",
    "make_disclosure",
    "parse_sd_jwt",
    "resolve_disclosures",
    "sd_hash",
    "select_disclosures",
]

SD_ALG: Final = "sha-256"
MAX_PRESENTATION_BYTES: Final = 16 * 1024
MAX_DISCLOSURES: Final = 64
_RESERVED: Final = frozenset({"_sd", "...", "_sd_alg"})
_SALT_BYTES: Final = 16  # 128 bits, as RFC 9901 §9.3 recommends


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure: ``name`` is ``None`` for an array element."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @property
    def digest(self) -> str:
        return digest(self.encoded)


def digest(text: str) -> str:
    """base64url(SHA-256(ASCII text)) — the only ``_sd_alg`` we issue or accept."""
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def sd_hash(presented: str) -> str:
    """The KB-JWT's ``sd_hash``: the digest of the SD-JWT up to and including the last ``~``."""
    return digest(presented)


def make_disclosure(name: str, value: Any) -> Disclosure:
    if name in _RESERVED:
        raise ValueError("a disclosure may not carry a reserved claim name")
    salt = b64url_encode(secrets.token_bytes(_SALT_BYTES))
    text = json.dumps([salt, name, value], separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Disclosure(b64url_encode(text.encode("utf-8")), salt, name, value)


def _decoy() -> str:
    return b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


def issue_sd_jwt(
    visible: Mapping[str, Any],
    disclosable: Mapping[str, Any],
    key: SigningKey,
    typ: str,
    *,
    nested: Mapping[str, Mapping[str, Any]] | None = None,
    decoys: int = 0,
) -> tuple[str, list[Disclosure]]:
    """Sign ``visible`` claims plus one disclosure per ``disclosable`` claim.

    Each ``nested`` entry becomes a visible object whose every member is a disclosure of its own
    (``level_at_least: {_sd: […]}``). The top-level ``_sd`` also holds ``decoys`` random digests;
    every ``_sd`` is sorted so that order reveals nothing. Returns the issuance form
    ``<jwt>~<d1>~…~`` and the disclosures.
    """
    nested = nested or {}
    names = [set(visible), set(disclosable), set(nested)]
    if any(a & b for i, a in enumerate(names) for b in names[i + 1 :]) or set().union(*names) & _RESERVED:
        raise ValueError("a claim is given twice, or reserved")
    disclosures: list[Disclosure] = []

    def digests_of(members: Mapping[str, Any], extra: int) -> list[str]:
        made = [make_disclosure(name, value) for name, value in members.items()]
        disclosures.extend(made)
        return sorted([d.digest for d in made] + [_decoy() for _ in range(extra)])

    payload: dict[str, Any] = dict(visible)
    for name, members in nested.items():
        payload[name] = {"_sd": digests_of(members, 0)}
    payload["_sd"] = digests_of(disclosable, decoys)
    payload["_sd_alg"] = SD_ALG
    token = sign(payload, key, typ)
    return "~".join([token, *(d.encoded for d in disclosures)]) + "~", disclosures


@dataclass(frozen=True, slots=True)
class SdJwt:
    """A split compact SD-JWT: nothing is verified yet."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None
    presented: str  # the issuer JWT and disclosures, each followed by "~": what sd_hash covers


def parse_sd_jwt(
    text: str, *, max_bytes: int = MAX_PRESENTATION_BYTES, max_disclosures: int = MAX_DISCLOSURES
) -> SdJwt:
    """Split ``<jwt>~<d>~…~[<kb-jwt>]`` within the size limits.

    :raises PresentationTooLarge: more than ``max_bytes`` or ``max_disclosures``.
    :raises PresentationMalformed: no ``~``, an empty disclosure, or a non-ASCII character.
    """
    if not isinstance(text, str) or len(text) > max_bytes:
        raise PresentationTooLarge("The presentation exceeds the size limit.", max_bytes=max_bytes)
    if not text.isascii():
        raise PresentationMalformed("The presentation is not ASCII.", check="ascii")
    parts = text.split("~")
    if len(parts) < 2 or not parts[0]:
        raise PresentationMalformed("The presentation is not an SD-JWT (no '~').", check="tilde")
    if len(parts) - 2 > max_disclosures:
        raise PresentationTooLarge("The presentation has too many disclosures.", max_disclosures=max_disclosures)
    middle = parts[1:-1]
    if any(not part for part in middle):
        raise PresentationMalformed("The presentation has an empty disclosure.", check="empty_disclosure")
    kb = parts[-1] or None
    presented = "~".join(parts[:-1]) + "~"
    return SdJwt(parts[0], tuple(middle), kb, presented)


def decode_disclosure(encoded: str) -> Disclosure:
    """:raises DisclosureMalformed: not base64url JSON ``[salt, name, value]`` or ``[salt, value]``."""
    try:
        value = json.loads(b64url_decode(encoded).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise DisclosureMalformed("A disclosure is not base64url-encoded JSON.", check="encoding") from exc
    if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[0], str):
        raise DisclosureMalformed("A disclosure is not a [salt, (name,) value] array.", check="shape")
    if len(value) == 2:
        return Disclosure(encoded, value[0], None, value[1])
    name = value[1]
    if not isinstance(name, str) or name in _RESERVED:
        raise DisclosureMalformed("A disclosure's claim name is not a string or is reserved.", check="name")
    return Disclosure(encoded, value[0], name, value[2])


def check_sd_alg(payload: Mapping[str, Any]) -> None:
    """:raises SdAlgNotAllowed: ``_sd_alg`` is anything but ``sha-256`` (absent means sha-256)."""
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise SdAlgNotAllowed("Only sha-256 is accepted as _sd_alg.", allowed=[SD_ALG])


class _Resolver:
    """RFC 9901 §7.1 step 3: replace digests by disclosed values, each digest used at most once."""

    def __init__(self, disclosures: Sequence[str]) -> None:
        self.by_digest: dict[str, Disclosure] = {}
        for encoded in disclosures:
            d = decode_disclosure(encoded)
            if d.digest in self.by_digest:
                raise DisclosureDuplicated("The same disclosure is presented twice.", check="disclosure")
            self.by_digest[d.digest] = d
        self.seen: set[str] = set()
        self.used: set[str] = set()
        self.paths: dict[str, str] = {}  # digest -> dotted path of the claim it disclosed ("[]" for elements)

    def _mark(self, value: str) -> Disclosure | None:
        if value in self.seen:
            raise DisclosureDuplicated("A digest appears more than once in the credential.", check="digest")
        self.seen.add(value)
        found = self.by_digest.get(value)
        if found is not None:
            self.used.add(value)
        return found

    def walk(self, node: Any, path: str = "") -> Any:
        if isinstance(node, list):
            out: list[Any] = []
            for item in node:
                if isinstance(item, dict) and set(item) == {"..."}:
                    ref = item["..."]
                    if not isinstance(ref, str):
                        raise DisclosureMalformed("An array digest is not a string.", check="array_digest")
                    found = self._mark(ref)
                    if found is not None:
                        if found.name is not None:
                            raise DisclosureMalformed("An array element disclosure has a name.", check="kind")
                        self.paths[ref] = path + "[]"
                        out.append(self.walk(found.value, path + "[]"))
                else:
                    out.append(self.walk(item, path + "[]"))
            return out
        if not isinstance(node, dict):
            return node
        result: dict[str, Any] = {}
        for name, value in node.items():
            if name not in ("_sd", "_sd_alg"):
                result[name] = self.walk(value, _join(path, name))
        refs = node.get("_sd", [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise DisclosureMalformed("_sd is not an array of digests.", check="sd_array")
        for ref in refs:
            found = self._mark(ref)
            if found is None:
                continue  # a decoy, or a claim the holder did not disclose
            if found.name is None:
                raise DisclosureMalformed("An object property disclosure lacks a name.", check="kind")
            if found.name in result:
                raise DisclosureDuplicated("A disclosed claim name already exists.", check="claim_name")
            self.paths[ref] = _join(path, found.name)
            result[found.name] = self.walk(found.value, _join(path, found.name))
        return result


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def resolve_disclosures(payload: Mapping[str, Any], disclosures: Sequence[str]) -> tuple[dict[str, Any], set[str]]:
    """The processed claims and the dotted paths of the claims that came from disclosures
    (``tier``, ``level_at_least.good``; array elements end in ``[]``).

    :raises DisclosureMalformed, DisclosureDuplicated: see the classes.
    :raises DisclosureUnreferenced: a presented disclosure matches no digest in the credential.
    """
    resolver = _Resolver(disclosures)
    claims = resolver.walk(dict(payload))
    if resolver.used != set(resolver.by_digest):
        raise DisclosureUnreferenced("A disclosure is not referenced by the credential.")
    return claims, set(resolver.paths.values())


def select_disclosures(issued: str, paths: Sequence[str]) -> str:
    """Holder side: keep only the disclosures of the claims at ``paths`` and of their parents.

    The issuer-signed JWT is read without verification: the holder only chooses what to show.
    """
    parsed = parse_sd_jwt(issued)
    segments = parsed.issuer_jwt.split(".")
    payload = json.loads(b64url_decode(segments[1])) if len(segments) == 3 else None
    if not isinstance(payload, dict):
        raise PresentationMalformed("The issued SD-JWT has no JSON payload.", check="payload")
    resolver = _Resolver(parsed.disclosures)
    resolver.walk(payload)
    wanted = set(paths)
    keep = [
        d.encoded
        for h, d in resolver.by_digest.items()
        if (p := resolver.paths.get(h)) is not None and any(w == p or w.startswith(p + ".") for w in wanted)
    ]
    return "~".join([parsed.issuer_jwt, *keep]) + "~"
