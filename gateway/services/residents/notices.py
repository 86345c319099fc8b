"""Versioned bilingual privacy notices (PIPL Art. 17 and 23), shipped as package data files.

A grant of the scoring authorisation or of a disclosure consent records the id and version of the
notice the resident was shown, so that what they agreed to can be read again later, word for word.
A notice file is never edited once published: a new wording is a new version (a new file). The
files are validated by ``schemas/notice.schema.json`` in the tests.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gateway.errors import NoticeNotFound, NoticeVersionUnknown

__all__ = [
    "DISCLOSURE_NOTICE",
    "SCORING_NOTICE",
    "Notice",
    "all_notices",
    "check_notice",
    "get_notice",
    "latest",
]

NOTICES_DIR: Final = Path(__file__).resolve().parent / "notices"
SCORING_NOTICE: Final = "sx-scoring-notice"
DISCLOSURE_NOTICE: Final = "sx-disclosure-notice"


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    version: str
    kind: str
    document: dict[str, Any]

    def ref(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@functools.cache
def all_notices() -> dict[tuple[str, str], Notice]:
    """Every notice file, read once per process (they are immutable package data)."""
    out: dict[tuple[str, str], Notice] = {}
    for path in sorted(NOTICES_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        notice = Notice(id=doc["id"], version=doc["version"], kind=doc["kind"], document=doc)
        out[(notice.id, notice.version)] = notice
    return out


def latest(notice_id: str) -> Notice:
    """The newest version of a notice.

    :raises NoticeNotFound: (404) no notice has this id.
    """
    versions = [n for (nid, _), n in all_notices().items() if nid == notice_id]
    if not versions:
        raise NoticeNotFound("No notice has this id.")
    return max(versions, key=lambda n: _version_key(n.version))


def get_notice(notice_id: str, version: str | None = None) -> Notice:
    """One notice: the given version, or the newest.

    :raises NoticeNotFound: (404) no such notice or version.
    """
    if version is None:
        return latest(notice_id)
    notice = all_notices().get((notice_id, version))
    if notice is None:
        raise NoticeNotFound("No notice has this id and version.")
    return notice


def check_notice(kind: str, notice_id: str | None, version: str | None) -> Notice:
    """The notice a grant says was shown: it must be a published version of a notice of ``kind``.

    Without an id and version the newest notice of the kind is taken (the channel showed it).

    :raises NoticeVersionUnknown: (422) not a published notice of this kind.
    """
    if notice_id is None and version is None:
        return latest(SCORING_NOTICE if kind == "scoring" else DISCLOSURE_NOTICE)
    notice = all_notices().get((notice_id or "", version or ""))
    if notice is None or notice.kind != kind:
        raise NoticeVersionUnknown(
            "The notice id and version are not a published notice of this kind.",
            published=[n.ref() for n in all_notices().values() if n.kind == kind],
        )
    return notice
