"""Strict base64url (RFC 7515 §2, RFC 4648 §5, no padding) for JOSE values.

Python's decoders accept padding, whitespace and non-canonical trailing bits; a JOSE value that
decodes is only accepted here if it re-encodes to exactly the same text, so one key or one list
has exactly one spelling.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raise :class:`ValueError` for anything else."""
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not unpadded base64url") from exc
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url")
    return data
