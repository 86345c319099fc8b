"""Privacy by construction: keyed hashes instead of ID numbers and names.

The store keys people by HMAC-SHA-256 of the normalised ID number under a secret pepper, so a
stolen database cannot be joined to other data by recomputing hashes of known numbers (the ID
space is small enough to enumerate; a plain hash would be reversible in practice). Each use gets
its own sub-key so that a hash from one column can never be matched against another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

__all__ = ["Hasher", "mask_name", "normalise_name"]


def _subkey(pepper: bytes, purpose: str) -> bytes:
    return hmac.new(pepper, b"sx-gateway/" + purpose.encode(), hashlib.sha256).digest()


def normalise_name(name: str) -> str:
    """NFKC, no whitespace: the same name typed at a kiosk or sent by a unit hashes the same."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def mask_name(name: str) -> str:
    """Keep the first character (usually the surname) and mask the rest: 张三 → 张*, 欧阳娜娜 → 欧***."""
    clean = normalise_name(name)
    if not clean:
        return "*"
    return clean[0] + "*" * max(1, len(clean) - 1)


class Hasher:
    """Keyed hashes of the pepper's sub-keys. Build once; the HMAC state is copied per call."""

    __slots__ = ("_id", "_name", "_pairwise")

    def __init__(self, pepper: bytes) -> None:
        self._id = hmac.new(_subkey(pepper, "id-number"), digestmod=hashlib.sha256)
        self._name = hmac.new(_subkey(pepper, "name"), digestmod=hashlib.sha256)
        self._pairwise = hmac.new(_subkey(pepper, "pairwise-subject"), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "Hasher(<redacted>)"

    def id_hash(self, normalised_id: str) -> str:
        h = self._id.copy()
        h.update(normalised_id.encode("ascii"))
        return h.hexdigest()

    def name_hash(self, name: str) -> str:
        h = self._name.copy()
        h.update(normalise_name(name).encode("utf-8"))
        return h.hexdigest()

    def pairwise_subject(self, person_key: str, audience: str) -> str:
        """A subject identifier stable for one audience and unlinkable across audiences.

        Derived from the person's keyed hash, never from the ID number itself, so the pairwise
        value cannot be recomputed by anyone without the pepper.
        """
        h = self._pairwise.copy()
        h.update(audience.encode("utf-8") + b"\x00" + person_key.encode("ascii"))
        return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")
