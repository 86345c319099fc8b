"""Published crosswalks, served from the database so that every process uses the same version.

Tier schemes stay files (``mappings/schemes``); crosswalks live in ``crosswalk_versions`` (every
version ever drafted, its document and content hash) and ``crosswalk_heads`` (the version in
force and the optimistic-concurrency counter). On first start each file under
``mappings/crosswalks`` is seeded as its own version, published; after that the database is the
authority and a changed file is only reported: administrators publish through
``gateway mappings`` or ``/v1/admin/crosswalks``.

:class:`CrosswalkRegistry` has the read interface of :class:`gateway.exchange.tiers.Mappings`
(``schemes``, ``crosswalks``, ``crosswalk_for``). Reads are answered from an in-memory snapshot;
:meth:`CrosswalkRegistry.refresh` (run by the background refresher, and at once after a change
in this process) re-reads the heads and parses a document only when a head moved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, select

from gateway.clock import utcnow
from gateway.errors import NotFound
from gateway.exchange.tiers import Crosswalk, InvalidMapping, TierScheme, load_mappings, validate_crosswalk
from gateway.store.dialect import insert_ignoring_conflicts
from gateway.store.engine import reader
from gateway.store.tables import crosswalk_heads, crosswalk_versions

__all__ = [
    "SEED_ACTOR",
    "CrosswalkNotFound",
    "CrosswalkRegistry",
    "Head",
    "MappingsView",
    "VersionRow",
    "aware",
    "check_document",
    "effective_from",
    "one_version",
    "read_head",
    "read_heads",
    "read_versions",
    "seed_crosswalks",
]

log = logging.getLogger(__name__)
SEED_ACTOR = "seed:mappings"


class CrosswalkNotFound(NotFound):
    code = "crosswalk_not_found"
    title = "No such crosswalk or crosswalk version"


class MappingsView(Protocol):
    """What the rest of the gateway reads: :class:`Mappings` (files) or :class:`CrosswalkRegistry`."""

    @property
    def schemes(self) -> Mapping[str, TierScheme]: ...

    @property
    def crosswalks(self) -> Mapping[str, Crosswalk]: ...

    def crosswalk_for(self, local_scheme: str) -> Crosswalk | None: ...


def aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Head:
    crosswalk_id: str
    local_scheme: str
    published_version: int | None
    row_version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionRow:
    crosswalk_id: str
    version: int
    local_scheme: str
    common_scheme: str
    state: str
    document: Mapping[str, Any]
    digest: str
    effective_from: date
    created_by: str
    created_at: datetime
    published_by: str | None
    published_at: datetime | None
    reason: str | None


def read_heads(conn: Connection, crosswalk_id: str | None = None) -> list[Head]:
    h = crosswalk_heads
    stmt = select(h.c.crosswalk_id, h.c.local_scheme, h.c.published_version, h.c.row_version, h.c.updated_at)
    if crosswalk_id is not None:
        stmt = stmt.where(h.c.crosswalk_id == crosswalk_id)
    return [Head(r[0], r[1], r[2], r[3], aware(r[4])) for r in conn.execute(stmt.order_by(h.c.crosswalk_id))]


def read_head(conn: Connection, crosswalk_id: str) -> Head | None:
    heads = read_heads(conn, crosswalk_id)
    return heads[0] if heads else None


def _version(row: Any) -> VersionRow:
    return VersionRow(
        crosswalk_id=row.crosswalk_id,
        version=row.version,
        local_scheme=row.local_scheme,
        common_scheme=row.common_scheme,
        state=row.state,
        document=row.document,
        digest=row.digest,
        effective_from=row.effective_from,
        created_by=row.created_by,
        created_at=aware(row.created_at),
        published_by=row.published_by,
        published_at=aware(row.published_at) if row.published_at is not None else None,
        reason=row.reason,
    )


def read_versions(conn: Connection, crosswalk_id: str | None = None, version: int | None = None) -> list[VersionRow]:
    """Versions of one crosswalk (or of all), oldest first; ``version`` picks one."""
    v = crosswalk_versions
    stmt = select(v).order_by(v.c.crosswalk_id, v.c.version)
    if crosswalk_id is not None:
        stmt = stmt.where(v.c.crosswalk_id == crosswalk_id)
    if version is not None:
        stmt = stmt.where(v.c.version == version)
    return [_version(r) for r in conn.execute(stmt)]


def one_version(conn: Connection, crosswalk_id: str, version: int) -> VersionRow:
    """:raises CrosswalkNotFound: no such version."""
    rows = read_versions(conn, crosswalk_id, version)
    if not rows:
        raise CrosswalkNotFound(f"Crosswalk {crosswalk_id} has no version {version}.")
    return rows[0]


def effective_from(cw: Crosswalk) -> date:
    """:raises InvalidMapping: the schema names the date format, but JSON Schema does not assert it."""
    try:
        return date.fromisoformat(str(cw.document["effective_from"]))
    except ValueError:
        raise InvalidMapping(f"{cw.id} v{cw.version}: effective_from is not a date (YYYY-MM-DD).") from None


def check_document(doc: Mapping[str, Any], schemes: Mapping[str, TierScheme]) -> Crosswalk:
    """Validate a crosswalk document against the published schemes it names.

    :raises InvalidMapping: the document breaks the schema or a crosswalk rule, or names a scheme
        that is not published.
    """
    local = schemes.get(str(doc.get("local_scheme", "")))
    common = schemes.get(str(doc.get("common_scheme", "")))
    if local is None or local.kind != "local":
        raise InvalidMapping("local_scheme does not name a published local tier scheme.")
    if common is None or common.kind != "common":
        raise InvalidMapping("common_scheme does not name a published common tier scheme.")
    cw = validate_crosswalk(doc, local, common)
    effective_from(cw)
    return cw


def seed_crosswalks(engine: Engine, directory: Path) -> Mapping[str, TierScheme]:
    """Load the mappings directory, seed every crosswalk the database does not know yet as a
    published version, and return the schemes.

    Idempotent and safe when several processes start at once: a crosswalk is seeded only while
    it has no head, and both inserts ignore a row another process wrote first.

    :raises InvalidMapping: a file breaks its schema or a crosswalk rule.
    """
    files = load_mappings(directory)
    h, v = crosswalk_heads, crosswalk_versions
    for cw in files.crosswalks.values():
        with engine.begin() as conn:
            head = read_head(conn, cw.id)
            if head is not None:
                stored = read_versions(conn, cw.id, cw.version)
                if not stored or stored[0].digest != cw.digest:
                    log.info("crosswalk %s v%d in mappings/ is not the database's; not seeded", cw.id, cw.version)
                continue
            owner = conn.execute(select(h.c.crosswalk_id).where(h.c.local_scheme == cw.local_scheme)).scalar()
            if owner is not None:
                log.warning("crosswalk %s not seeded: %s already maps %s", cw.id, owner, cw.local_scheme)
                continue
            now = utcnow()
            conn.execute(
                insert_ignoring_conflicts(conn, v, ["crosswalk_id", "version"]).values(
                    crosswalk_id=cw.id,
                    version=cw.version,
                    local_scheme=cw.local_scheme,
                    common_scheme=cw.common_scheme,
                    state="published",
                    document=dict(cw.document),
                    digest=cw.digest,
                    effective_from=effective_from(cw),
                    created_by=SEED_ACTOR,
                    created_at=now,
                    published_by=SEED_ACTOR,
                    published_at=now,
                    reason="Seeded from the mappings/ directory on first start.",
                )
            )
            conn.execute(
                insert_ignoring_conflicts(conn, h, ["crosswalk_id"]).values(
                    crosswalk_id=cw.id,
                    local_scheme=cw.local_scheme,
                    published_version=cw.version,
                    row_version=1,
                    updated_at=now,
                )
            )
    return files.schemes


class CrosswalkRegistry:
    """The published crosswalks of the shared database, as one immutable snapshot per refresh."""

    def __init__(self, engine: Engine, schemes: Mapping[str, TierScheme]) -> None:
        self._engine = engine
        self._schemes = schemes
        self._lock = threading.Lock()
        self._signature: frozenset[tuple[str, int]] | None = None
        self._by_head: dict[tuple[str, int], Crosswalk] = {}
        self._snapshot: Mapping[str, Crosswalk] = {}

    @classmethod
    def seeded(cls, engine: Engine, directory: Path) -> CrosswalkRegistry:
        registry = cls(engine, seed_crosswalks(engine, directory))
        registry.refresh()
        return registry

    @property
    def schemes(self) -> Mapping[str, TierScheme]:
        return self._schemes

    @property
    def crosswalks(self) -> Mapping[str, Crosswalk]:
        """The published crosswalks keyed by local scheme."""
        return self._snapshot

    def crosswalk_for(self, local_scheme: str) -> Crosswalk | None:
        return self._snapshot.get(local_scheme)

    def refresh(self) -> bool:
        """Re-read which versions are published; True when the snapshot changed."""
        h, v = crosswalk_heads, crosswalk_versions
        with self._lock, reader(self._engine).connect() as conn:
            heads = conn.execute(
                select(h.c.crosswalk_id, h.c.published_version).where(h.c.published_version.is_not(None))
            ).all()
            if frozenset((str(r[0]), int(r[1])) for r in heads) == self._signature:
                conn.rollback()
                return False
            # Something moved: read the published set again in one statement, so that a head
            # moving between the two reads cannot leave a crosswalk out of the snapshot.
            rows = conn.execute(
                select(v.c.crosswalk_id, v.c.version, v.c.document).join(
                    h, and_(h.c.crosswalk_id == v.c.crosswalk_id, h.c.published_version == v.c.version)
                )
            ).all()
            conn.rollback()
            signature = frozenset((str(r[0]), int(r[1])) for r in rows)
            parsed: dict[tuple[str, int], Crosswalk] = {}
            for crosswalk_id, version, document in rows:
                key = (str(crosswalk_id), int(version))
                if key in self._by_head:
                    parsed[key] = self._by_head[key]
                    continue
                try:
                    parsed[key] = check_document(document, self._schemes)
                except InvalidMapping as exc:
                    # Validated when published; only a scheme file changed since can break it.
                    log.error("published crosswalk %s v%d no longer validates: %s", key[0], key[1], exc.detail)
            self._by_head = parsed
            self._snapshot = {cw.local_scheme: cw for cw in parsed.values()}
            self._signature = signature
            return True
