"""Evidence files residents attach to objections (measure 四(二): an objection comes with evidence).

Files are rows of the shared database (``evidence_files``), content-addressed by SHA-256, so that
any gateway process can take an upload and any other serve it to an officer: nothing an objection
needs lives on one process's disk. An objection refers to its files by hash only. Only PDF, JPEG and
PNG are taken, and the first bytes must agree with the declared type: a file that claims to be a PDF
but is not one is refused, and the type an officer is served is read back from the bytes, never from
a caller. Only the residents who uploaded a file may cite it (``evidence_owners``).

Before issue 12 the files lived under ``<data dir>/evidence/<sha256[:2]>/<sha256>``;
:func:`import_evidence_files` copies such a directory into the database once, at start.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Engine, delete, func, select

from gateway.clock import utcnow
from gateway.config import Settings
from gateway.errors import MalformedBody, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.engine import reader
from gateway.store.tables_scaleout import evidence_files, evidence_owners

if TYPE_CHECKING:
    from gateway.services.context import Gateway

__all__ = [
    "EvidenceEmpty",
    "EvidenceFile",
    "EvidenceNotFound",
    "EvidenceTooLarge",
    "EvidenceTypeMismatch",
    "EvidenceTypeNotAllowed",
    "EvidenceUnknown",
    "accepted_media_type",
    "delete_evidence_of",
    "describe_evidence",
    "import_evidence_files",
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


def _checked(sha256: str) -> str:
    if not SHA256_HEX.fullmatch(sha256):
        raise EvidenceUnknown("An evidence reference is a lower-case hex SHA-256.")
    return sha256


def _owner_tag(sha256: str, owner: str) -> str:
    # A hash of the pair, not the person's key itself (the same tag the file markers carried).
    return hashlib.sha256(f"{owner}:{sha256}".encode()).hexdigest()[:32]


def _keep(conn: Connection, digest: str, media: str, body: bytes, owner_tag: str) -> None:
    """Insert the file and its owner unless present: two uploads of the same bytes, in any two
    processes at once, both end with one row."""
    now = utcnow()
    conn.execute(
        insert_ignoring_conflicts(conn, evidence_files, ["sha256"]).values(
            sha256=digest, media_type=media, size=len(body), content=body, created_at=now
        )
    )
    conn.execute(
        insert_ignoring_conflicts(conn, evidence_owners, ["sha256", "owner_tag"]).values(
            sha256=digest, owner_tag=owner_tag, created_at=now
        )
    )


def delete_evidence_of(conn: Connection, owners: list[str]) -> int:
    """Forget what ``owners`` (people's keyed hashes) uploaded, in the caller's transaction: their
    owner rows go, and a file goes with its last owner (the retention run; issue 9). Returns the
    number of files deleted."""
    if not owners:
        return 0
    rows = conn.execute(select(evidence_owners.c.sha256, evidence_owners.c.owner_tag)).all()
    held: dict[str, set[str]] = {}
    for sha, tag in rows:
        held.setdefault(sha, set()).add(tag)
    files_gone = 0
    for sha, tags in held.items():
        mine = {_owner_tag(sha, owner) for owner in owners} & tags
        if not mine:
            continue
        conn.execute(
            delete(evidence_owners).where(evidence_owners.c.sha256 == sha, evidence_owners.c.owner_tag.in_(mine))
        )
        if mine == tags:
            conn.execute(delete(evidence_files).where(evidence_files.c.sha256 == sha))
            files_gone += 1
    return files_gone


def store_evidence(gw: Gateway, body: bytes, content_type: str | None, *, owner: str) -> EvidenceFile:
    """Keep ``body`` (already size-limited by the caller) and return its reference.

    Storing the same content twice keeps one row.

    :raises EvidenceTypeNotAllowed, EvidenceTypeMismatch: (415) the type, declared or actual.
    :raises EvidenceTooLarge: (413) over ``evidence_max_bytes``.
    :raises EvidenceEmpty: (400) nothing was sent.
    """
    settings = gw.settings
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
    with gw.engine.begin() as conn:
        _keep(conn, digest, media, body, _owner_tag(digest, owner))
    log.info("evidence %s stored (%d bytes)", digest[:12], len(body))
    return EvidenceFile(digest, media, len(body))


def describe_evidence(gw: Gateway, sha256: str, *, owner: str | None = None) -> EvidenceFile:
    """The reference of an uploaded file, its type read from its first bytes. With ``owner``, only
    a file that owner uploaded is found (others get the same answer as a file that does not exist).

    :raises EvidenceUnknown: (422) no such file.
    """
    _checked(sha256)
    query = select(func.substr(evidence_files.c.content, 1, 16), evidence_files.c.size).where(
        evidence_files.c.sha256 == sha256
    )
    if owner is not None:
        query = query.join(evidence_owners, evidence_owners.c.sha256 == evidence_files.c.sha256).where(
            evidence_owners.c.owner_tag == _owner_tag(sha256, owner)
        )
    with reader(gw.engine).connect() as conn:
        row = conn.execute(query).first()
    media = _sniff(bytes(row[0])) if row is not None else None
    if row is None or media is None:
        raise EvidenceUnknown("An evidence reference names no uploaded file; upload it first.")
    return EvidenceFile(sha256, media, int(row[1]))


def read_evidence(gw: Gateway, sha256: str) -> tuple[bytes, str]:
    """The content and type of an uploaded file, for officers.

    :raises EvidenceNotFound: (404) no such file.
    """
    if not SHA256_HEX.fullmatch(sha256):
        raise EvidenceNotFound("No evidence file has this hash.")
    with reader(gw.engine).connect() as conn:
        content = conn.execute(select(evidence_files.c.content).where(evidence_files.c.sha256 == sha256)).scalar()
    media = _sniff(bytes(content[:16])) if content is not None else None
    if content is None or media is None:
        raise EvidenceNotFound("No evidence file has this hash.")
    return bytes(content), media


_MARKER: Final = re.compile(r"([0-9a-f]{64})\.by-([0-9a-f]{32})")


def import_evidence_files(engine: Engine, data_dir: Path) -> int:
    """Copy the files of the former on-disk store (``<data dir>/evidence/``) into the database, with
    their owners, and rename the directory to ``evidence.imported-<time>`` so that the next start skips it
    (the operator deletes it once satisfied). A file whose bytes do not hash to its name, or whose
    type is not one evidence may have, is left out and logged. Returns the number of files copied.
    """
    folder = data_dir / "evidence"
    if not folder.is_dir():
        return 0
    copied = 0
    with engine.begin() as conn:
        for path in sorted(folder.glob("??/*")):
            name = path.name
            if not SHA256_HEX.fullmatch(name):  # owner markers, temporary files
                continue
            body = path.read_bytes()
            media = _sniff(body[:16])
            if hashlib.sha256(body).hexdigest() != name or media is None:
                log.warning("evidence import: %s is not an intact evidence file; left out", name[:12])
                continue
            tags = [
                m.group(2)
                for m in (_MARKER.fullmatch(p.name) for p in path.parent.glob(f"{name}.by-*"))
                if m is not None and m.group(1) == name
            ]
            if not tags:  # nobody could cite it: nothing to carry over
                log.warning("evidence import: %s has no uploader on record; left out", name[:12])
                continue
            for tag in tags:
                _keep(conn, name, media, body, tag)
            copied += 1
    done = folder.with_name(f"evidence.imported-{utcnow():%Y%m%dT%H%M%S}")
    try:
        folder.rename(done)
    except FileNotFoundError:  # another process sharing this data directory got there first
        return copied
    log.warning("evidence import: %d file(s) copied into the database; delete %s once satisfied", copied, done)
    return copied
