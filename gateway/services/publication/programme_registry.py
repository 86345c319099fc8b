"""Incentive programmes served from the database, so every process uses the same published version
(measure 三(三): the incentives a good integrity level earns).

The files under ``partners/programmes/`` are the seed, as ``mappings/`` seeds the crosswalks: on
first start each is stored as a published version (idempotent across processes); after that
providers change their programmes through ``/v1/programmes/mine`` (or a ``partner_admin`` through
``/v1/admin/programmes``) and a changed file is only reported. :class:`ProgrammeRegistry` has the
read interface of :class:`gateway.services.recognition.programmes.Programmes` (``by_id``, ``get``,
``offered_by``) over an in-memory snapshot that :meth:`ProgrammeRegistry.refresh` re-reads (run by
the background refresher, and at once after a change in this process).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from gateway.errors import DocumentRejected
from gateway.exchange.tiers import TierScheme
from gateway.partners import PartnerRegistry
from gateway.services.publication import governance
from gateway.services.publication.purposes import check_purpose
from gateway.services.recognition.programmes import InvalidProgramme, Programme, parse_programme
from gateway.store.engine import reader
from gateway.store.tables_publication import governed_heads

__all__ = ["SEED_ACTOR", "ProgrammeRegistry", "programme_kind"]

log = logging.getLogger(__name__)
SEED_ACTOR = "seed:programmes"


def programme_kind(schemes: Mapping[str, TierScheme], partners: PartnerRegistry) -> governance.Kind:
    """How a programme document is checked: purpose in the closed list (``unknown_purpose``), the
    schema and the semantic rules (``document_invalid``); the server numbers its versions."""

    def check(document: Mapping[str, Any], number: int) -> governance.Checked:
        check_purpose(document.get("purpose"))
        doc = {**document, "version": number}
        try:
            programme = parse_programme(doc, f"Programme {doc.get('id')}", schemes=schemes, partners=partners)
        except InvalidProgramme as exc:
            raise DocumentRejected(exc.detail) from None
        return governance.Checked(doc, programme.digest, programme.valid_from, owner=programme.owner)

    return governance.Kind("programme", check, numbered=True)


class ProgrammeRegistry:
    """The published programmes of the shared database, as one immutable snapshot per refresh."""

    def __init__(self, engine: Engine, schemes: Mapping[str, TierScheme], partners: PartnerRegistry) -> None:
        self._engine = engine
        self._schemes = schemes
        self.kind = programme_kind(schemes, partners)
        self._lock = threading.Lock()
        self._signature: frozenset[tuple[str, int]] | None = None
        self._snapshot: Mapping[str, Programme] = {}

    @classmethod
    def seeded(
        cls, engine: Engine, directory: Path, *, schemes: Mapping[str, TierScheme], partners: PartnerRegistry
    ) -> ProgrammeRegistry:
        registry = cls(engine, schemes, partners)
        registry.seed(directory)
        registry.refresh()
        return registry

    def seed(self, directory: Path) -> None:
        """Seed every file of ``directory`` the database does not know yet.

        :raises DocumentRejected: a file breaks its schema or a rule (as a bad file failed the load before).
        """
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise DocumentRejected(f"Programme file {path.name} is not valid JSON.") from None
            if not isinstance(doc, dict) or doc.get("id") != path.stem:
                raise DocumentRejected(f"Programme file {path.name} must be named after its id.")
            seeded = governance.seed(
                self._engine, self.kind, path.stem, doc, actor=SEED_ACTOR, reason="Seeded from partners/programmes/."
            )
            if not seeded:
                log.debug("programme %s is administered in the database; the file is not seeded again", path.stem)

    @property
    def by_id(self) -> Mapping[str, Programme]:
        return self._snapshot

    def get(self, programme_id: str) -> Programme | None:
        return self._snapshot.get(programme_id)

    def offered_by(self, partner_id: str, purpose: str | None = None) -> list[Programme]:
        return [
            p for p in self._snapshot.values() if p.offered_to(partner_id) and (purpose is None or p.purpose == purpose)
        ]

    def in_force(self, day: date) -> list[Programme]:
        return [p for p in self._snapshot.values() if p.in_force(day)]

    def compile(self, document: Mapping[str, Any]) -> Programme:
        """A stored document as a :class:`Programme` (parsed against the schemes of this process)."""
        return parse_programme(document, f"Programme {document.get('id')}", schemes=self._schemes)

    def refresh(self) -> bool:
        """Re-read which versions are published; True when the snapshot changed."""
        h = governed_heads
        with self._lock, reader(self._engine).connect() as conn:
            heads = conn.execute(
                select(h.c.doc_id, h.c.published_version).where(
                    h.c.kind == "programme", h.c.published_version.is_not(None)
                )
            ).all()
            if frozenset((str(r[0]), int(r[1])) for r in heads) == self._signature:
                conn.rollback()
                return False
            # Something moved: read the published set again in one statement.
            rows = governance.published_documents(conn, "programme")
            conn.rollback()
        signature = frozenset((r.doc_id, r.version) for r in rows)
        parsed: dict[str, Programme] = {}
        for row in rows:
            try:
                parsed[row.doc_id] = self.compile(row.document)
            except InvalidProgramme as exc:  # validated when published; only a changed scheme file breaks it
                log.error("published programme %s v%d no longer validates: %s", row.doc_id, row.version, exc.detail)
        self._snapshot = parsed
        self._signature = signature
        return True
