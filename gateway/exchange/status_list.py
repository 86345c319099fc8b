"""Token Status List (draft-ietf-oauth-status-list): the list, its JWT, and references to it.

The Status List is a byte array holding ``bits`` (1, 2, 4 or 8) per Referenced Token. Index
``i`` lives in byte ``i * bits // 8`` at bit offset ``i * bits % 8``, counted from the least
significant bit (the draft's "Status List" section: byte 0 of the 1-bit example ``0xB9`` holds
statuses 1,0,0,1,1,1,0,1 for indices 0..7). The array is zlib/DEFLATE-compressed at the highest
level (RFC 1950/1951) and base64url-encoded into ``lst``.

Status values: 0 VALID, 1 INVALID, 2 SUSPENDED (the draft's registry) and 3 SUPERSEDED, an
application-specific value of ours ("a newer score assertion replaces this one"), which needs a
2-bit list.

A Status List Token (``typ: statuslist+jwt``) is verified like any other token — signature by
the same issuer trust as the referenced assertion, ``iat`` required, ``exp`` honoured — and its
``sub`` must equal the ``uri`` the referenced token names; ``ttl`` bounds how long it may be
cached. (A reference Python implementation skipped both the signature and the ``sub`` check;
we do neither.)
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from gateway.exchange._b64 import b64url_decode, b64url_encode
from gateway.exchange.errors import InvalidClaim, StatusListInvalid, SubjectMismatch
from gateway.exchange.keys import SUPPORTED_ALGORITHMS, VerificationKey
from gateway.exchange.verify import DEFAULT_MAX_SKEW, TYP_STATUS_LIST, TokenVerifier

__all__ = [
    "MAX_STATUS_LIST_BYTES",
    "Status",
    "StatusList",
    "StatusListToken",
    "StatusReference",
    "build_status_list_token_claims",
    "status_list_verifier",
    "verify_status_list_token",
]

# 16 MiB uncompressed = 134 million 1-bit entries; a bound against decompression bombs.
MAX_STATUS_LIST_BYTES: Final = 16 * 1024 * 1024
_BITS: Final = (1, 2, 4, 8)
_KIND: Final = "status_list"


class Status(IntEnum):
    VALID = 0
    INVALID = 1
    SUSPENDED = 2
    SUPERSEDED = 3  # application-specific (draft: values 0x03, 0x0B–0x0F are application-specific)


def _invalid(detail: str, check: str) -> StatusListInvalid:
    return StatusListInvalid(detail, token_kind=_KIND, check=check)


class StatusList:
    """A mutable status list of ``size`` entries of ``bits`` bits each, all VALID at first."""

    __slots__ = ("_bits", "_data", "_size")

    def __init__(self, bits: int, size: int) -> None:
        if bits not in _BITS:
            raise ValueError("bits must be 1, 2, 4 or 8")
        if not 0 < size <= MAX_STATUS_LIST_BYTES * 8 // bits:
            raise ValueError("size is out of range")
        self._bits = bits
        self._size = size
        self._data = bytearray((size * bits + 7) // 8)

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def _locate(self, idx: int) -> tuple[int, int]:
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < self._size:
            raise IndexError("status list index out of range")
        position = idx * self._bits
        return position // 8, position % 8

    def get(self, idx: int) -> int:
        byte, shift = self._locate(idx)
        return (self._data[byte] >> shift) & ((1 << self._bits) - 1)

    def set(self, idx: int, value: int) -> None:
        mask = (1 << self._bits) - 1
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= mask:
            raise ValueError("the status value does not fit in the list's bits")
        byte, shift = self._locate(idx)
        self._data[byte] = (self._data[byte] & ~(mask << shift) & 0xFF) | (value << shift)

    def to_bytes(self) -> bytes:
        return bytes(self._data)

    @classmethod
    def from_bytes(cls, bits: int, data: bytes) -> StatusList:
        """The list whose byte array is ``data``; its size is every slot the bytes hold."""
        status_list = cls(bits, len(data) * 8 // bits)
        status_list._data[:] = data
        return status_list

    def encode(self) -> dict[str, Any]:
        """The JSON ``status_list`` object: ``{"bits": b, "lst": base64url(zlib(bytes))}``."""
        return {"bits": self._bits, "lst": b64url_encode(zlib.compress(bytes(self._data), 9))}

    @classmethod
    def decode(cls, obj: Any) -> StatusList:
        """Parse a JSON ``status_list`` object (unknown members such as ``aggregation_uri`` are ignored).

        :raises StatusListInvalid: ``bits`` not 1/2/4/8, ``lst`` not base64url, not one complete
            zlib stream, empty, or larger than :data:`MAX_STATUS_LIST_BYTES` uncompressed.
        """
        if not isinstance(obj, Mapping):
            raise _invalid("The status list is not an object.", "shape")
        bits, lst = obj.get("bits"), obj.get("lst")
        if isinstance(bits, bool) or bits not in _BITS:
            raise _invalid("The status list's bits must be 1, 2, 4 or 8.", "bits")
        if not isinstance(lst, str):
            raise _invalid("The status list's lst must be a string.", "lst")
        try:
            compressed = b64url_decode(lst)
        except ValueError as exc:
            raise _invalid("The status list's lst is not base64url.", "base64url") from exc
        inflater = zlib.decompressobj()
        try:
            # Bounded inflate: a small lst must not expand into gigabytes.
            data = inflater.decompress(compressed, MAX_STATUS_LIST_BYTES)
        except zlib.error as exc:
            raise _invalid("The status list's lst is not zlib data.", "zlib") from exc
        if inflater.unconsumed_tail:
            raise _invalid("The status list is too large.", "size")
        if not inflater.eof or inflater.unused_data or not data:
            raise _invalid("The status list's lst is not one complete, non-empty zlib stream.", "zlib")
        return cls.from_bytes(bits, data)


@dataclass(frozen=True, slots=True)
class StatusReference:
    """The ``status.status_list`` claim of a Referenced Token: ``{"idx": n, "uri": "https://…"}``."""

    idx: int
    uri: str

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> StatusReference | None:
        """The reference in verified ``claims``, or ``None`` when they carry no status list.

        :raises InvalidClaim: ``status`` is present but malformed.
        """
        status = claims.get("status")
        if status is None:
            return None
        if not isinstance(status, Mapping):
            raise InvalidClaim("The status claim is malformed.", claim="status")
        if "status_list" not in status:
            return None  # another status mechanism; not ours to check
        reference = status["status_list"]
        if not isinstance(reference, Mapping):
            raise InvalidClaim("The status claim is malformed.", claim="status")
        idx, uri = reference.get("idx"), reference.get("uri")
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise InvalidClaim("The status list index must be a non-negative integer.", claim="status")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise InvalidClaim("The status list uri must be an https URL.", claim="status")
        return cls(idx, uri)


def build_status_list_token_claims(
    uri: str,
    lst: StatusList,
    iat: int,
    exp: int | None,
    ttl: int | None,
    *,
    iss: str | None = None,
) -> dict[str, Any]:
    """Claims of a Status List Token; sign them with ``typ`` :data:`TYP_STATUS_LIST`.

    ``sub`` is the list's own ``uri`` (what Referenced Tokens put in ``status_list.uri``);
    ``iss`` must be given when the Referenced Tokens carry one (ours always do).

    :raises ValueError: ``uri`` not https, ``exp`` not after ``iat``, or ``ttl`` not positive.
    """
    if not uri.startswith("https://"):
        raise ValueError("a status list uri must be an https URL")
    if exp is not None and exp <= iat:
        raise ValueError("exp must be after iat")
    if ttl is not None and ttl <= 0:
        raise ValueError("ttl must be positive")
    claims: dict[str, Any] = {"sub": uri, "iat": iat, "status_list": lst.encode()}
    if iss is not None:
        claims["iss"] = iss
    if exp is not None:
        claims["exp"] = exp
    if ttl is not None:
        claims["ttl"] = ttl
    return claims


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A verified Status List Token."""

    uri: str
    status_list: StatusList
    iat: float
    exp: float | None
    ttl: float | None

    def status(self, idx: int) -> int:
        """The status at ``idx``; an index beyond the list is the issuer's error, not VALID."""
        try:
            return self.status_list.get(idx)
        except IndexError as exc:
            raise _invalid("The referenced index is outside the status list.", "idx") from exc

    def cache_until(self, fetched_at: float) -> float | None:
        """Until when this token may be reused: never past ``exp``, never more than ``ttl`` after
        ``fetched_at``; ``None`` when the token sets neither (cache policy is then ours)."""
        bounds = [
            bound for bound in (self.exp, None if self.ttl is None else fetched_at + self.ttl) if bound is not None
        ]
        return min(bounds) if bounds else None


def status_list_verifier(
    issuer: str | None,
    *,
    algorithms: Collection[str] = SUPPORTED_ALGORITHMS,
    now: Callable[[], float] = time.time,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> TokenVerifier:
    """The verifier for ``statuslist+jwt``: no ``aud``; ``sub``, ``iat`` and ``status_list`` required."""
    return TokenVerifier(
        typ=TYP_STATUS_LIST,
        audience=None,
        algorithms=algorithms,
        issuer=issuer,
        required_claims=frozenset({"sub", "iat", "status_list"}),
        max_skew=max_skew,
        kind=_KIND,
        now=now,
    )


def verify_status_list_token(
    token: str,
    *,
    uri: str,
    keys: Mapping[str, VerificationKey],
    issuer: str | None,
    algorithms: Collection[str] = SUPPORTED_ALGORITHMS,
    now: Callable[[], float] = time.time,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> StatusListToken:
    """Verify a Status List Token fetched from ``uri`` (the referenced token's ``status_list.uri``).

    ``keys`` and ``issuer`` must be those trusted for the *referenced* token's issuer.

    :raises InvalidToken: any token check (``bad_signature``, ``token_expired``,
        ``token_type_mismatch`` …), ``subject_mismatch`` when ``sub`` ≠ ``uri``, ``invalid_claim``
        for a bad ``ttl``, ``status_list_invalid`` for an undecodable list.
    """
    verifier = status_list_verifier(issuer, algorithms=algorithms, now=now, max_skew=max_skew)
    claims = verifier.verify(token, keys).claims
    if claims["sub"] != uri:
        raise SubjectMismatch("The status list is not the one referenced.", token_kind=_KIND, check="sub_uri")
    ttl = claims.get("ttl")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0
    ):
        raise InvalidClaim("The ttl must be a positive number.", token_kind=_KIND, claim="ttl")
    exp = claims.get("exp")
    return StatusListToken(
        uri=uri,
        status_list=StatusList.decode(claims["status_list"]),
        iat=float(claims["iat"]),
        exp=None if exp is None else float(exp),
        ttl=None if ttl is None else float(ttl),
    )
