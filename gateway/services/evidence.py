"""Evidence files residents attach to objections (measure 四(二): an objection comes with evidence).

Files are stored outside the database, content-addressed: ``<data dir>/evidence/<sha256[:2]>/<sha256>``,
written to a temporary file and renamed into place (so a reader never sees half a file), mode 0600
in 0700 directories. An objection refers to its files by hash only. Only PDF, JPEG and PNG are taken,
and the first bytes must agree with the declared type: a file that claims to be a PDF but is not one
is refused, and the type an officer is served is read back from the bytes, never from a caller.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gateway.config import Settings
from gateway.errors import MalformedBody, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

__all__ = [
    "EvidenceEmpty",
    "EvidenceFile",
    "EvidenceNotFound",
    "EvidenceTooLarge",
    "EvidenceTypeMismatch",
    "EvidenceTypeNotAllowed",
    "EvidenceUnknown",
    "accepted_media_type",
    "describe_evidence",
    "evidence_path",
    "owner_marker",
    "read_evidence",
    "store_evidence",
]

log = logging.getLogger(__name__)

SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
# Leading bytes of each accepted type (PDF 1.x header, JPEG SOI marker, PNG signature).
_MAGIC: Final = {
    "application/pdf": b"%PDF-",
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
}


class EvidenceTypeNotAllowed(UnsupportedMediaType):
    code = "evidence_type_not_allowed"
    title = "Evidence must be a PDF, JPEG or PNG file"


class EvidenceTypeMismatch(UnsupportedMediaType):
    code = "evidence_type_mismatch"
    title = "The file's content does not match its declared type"


class EvidenceTooLarge(PayloadTooLarge):
    code = "evidence_too_large"
    title = "The evidence file is larger than allowed"


class EvidenceEmpty(MalformedBody):
    code = "evidence_empty"
    title = "The evidence file is empty"


class EvidenceUnknown(ValidationFailed):
    code = "evidence_unknown"
    title = "An evidence reference names no uploaded file"


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"
    title = "No evidence file has this hash"


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    sha256: str
    media_type: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "media_type": self.media_type, "size": self.size}


def accepted_media_type(settings: Settings, content_type: str | None) -> str:
    """The bare media type of ``content_type`` when evidence may have it.

    :raises EvidenceTypeNotAllowed: (415) anything else, the parameters ignored.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in settings.evidence_types or media not in _MAGIC:
        raise EvidenceTypeNotAllowed(
            "Send the file as the raw request body with its Content-Type.", accepted=list(settings.evidence_types)
        )
    return media


def _sniff(head: bytes) -> str | None:
    return next((media for media, magic in _MAGIC.items() if head.startswith(magic)), None)


def evidence_path(settings: Settings, sha256: str) -> Path:
    """Where a file with this hash lives; the hash is checked before it touches the file system."""
    if not SHA256_HEX.fullmatch(sha256):
        raise EvidenceUnknown("An evidence reference is a lower-case hex SHA-256.")
    return settings.data_dir / "evidence" / sha256[:2] / sha256


def _owner_marker(settings: Settings, sha256: str, owner: str) -> Path:
    # One empty marker per (file, uploader): content is stored once, but only the residents who
    # uploaded it may cite it (a hash alone must not let one resident attach another's document,
    # nor learn whether it exists). The name is a hash of the pair, not the person's key itself.
    tag = hashlib.sha256(f"{owner}:{sha256}".encode()).hexdigest()[:32]
    return evidence_path(settings, sha256).with_name(f"{sha256}.by-{tag}")


def owner_marker(settings: Settings, sha256: str, owner: str) -> Path:
    """The uploader's marker of a file (the retention run deletes it with the person; issue 9)."""
    return _owner_marker(settings, sha256, owner)


def store_evidence(settings: Settings, body: bytes, content_type: str | None, *, owner: str) -> EvidenceFile:
    """Keep ``body`` (already size-limited by the caller) and return its reference.

    Storing the same content twice keeps one file.

    :raises EvidenceTypeNotAllowed, EvidenceTypeMismatch: (415) the type, declared or actual.
    :raises EvidenceTooLarge: (413) over ``evidence_max_bytes``.
    :raises EvidenceEmpty: (400) nothing was sent.
    """
    media = accepted_media_type(settings, content_type)
    if not body:
        raise EvidenceEmpty("The request body is empty.")
    if len(body) > settings.evidence_max_bytes:
        raise EvidenceTooLarge(
            f"An evidence file holds at most {settings.evidence_max_bytes} bytes.",
            max_bytes=settings.evidence_max_bytes,
        )
    if _sniff(body[:16]) != media:
        raise EvidenceTypeMismatch("The file's content is not of the declared type.", declared=media)
    digest = hashlib.sha256(body).hexdigest()
    final = evidence_path(settings, digest)
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = final.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            # Atomic on POSIX: two uploads of the same file both end with one complete copy.
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("evidence %s stored (%d bytes)", digest[:12], len(body))
    _owner_marker(settings, digest, owner).touch(mode=0o600, exist_ok=True)
    return EvidenceFile(digest, media, len(body))


def describe_evidence(settings: Settings, sha256: str, *, owner: str | None = None) -> EvidenceFile:
    """The reference of an uploaded file, its type read from its bytes. With ``owner``, only a file
    that owner uploaded is found (others get the same answer as a file that does not exist).

    :raises EvidenceUnknown: (422) no such file.
    """
    path = evidence_path(settings, sha256)
    if owner is not None and not _owner_marker(settings, sha256, owner).exists():
        raise EvidenceUnknown("An evidence reference names no uploaded file; upload it first.")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        raise EvidenceUnknown("An evidence reference names no uploaded file; upload it first.") from None
    media = _sniff(head)
    if media is None:  # not written by store_evidence
        raise EvidenceUnknown("An evidence reference names no uploaded file; upload it first.")
    return EvidenceFile(sha256, media, size)


def read_evidence(settings: Settings, sha256: str) -> tuple[bytes, str]:
    """The content and type of an uploaded file, for officers.

    :raises EvidenceNotFound: (404) no such file.
    """
    try:
        described = describe_evidence(settings, sha256)
        return evidence_path(settings, sha256).read_bytes(), described.media_type
    except (EvidenceUnknown, FileNotFoundError):
        raise EvidenceNotFound("No evidence file has this hash.") from None
