"""The partner registry: one JSON file per partner under ``GATEWAY_PARTNERS_DIR``.

Loaded at start and reloadable without a restart: :meth:`PartnerRegistry.reload` builds a new
immutable snapshot and swaps it in one assignment, so a request sees either the old or the new
registry, never half of each. Every file is validated by ``schemas/partner.schema.json``; one bad
file fails the whole load (and a reload keeps the previous snapshot), because silently dropping a
partner would look like a disabled one.

Administrators' changes (enable, disable, replace the JWKS) live in ``partner_overrides``, shared
by every process, and are laid over the files: :meth:`PartnerRegistry.refresh_overrides` re-reads
the table (the gateway's background refresher calls it every few seconds, so a partner disabled in
one process is refused by all of them within that bound). An override's JWKS is parsed once per
row version, never per request.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import Engine, select

from gateway.catalogue import safe_messages
from gateway.config import bundled_path
from gateway.errors import ConfigurationError, GatewayError
from gateway.exchange import VerificationKey, parse_jwks
from gateway.store.engine import reader
from gateway.store.tables import partner_overrides

__all__ = ["Partner", "PartnerOverride", "PartnerRegistry", "load_partner_documents"]

log = logging.getLogger(__name__)

_SCHEMA = bundled_path("schemas") / "partner.schema.json"


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    name_zh: str
    name_en: str
    kind: str
    enabled: bool
    unit_kind: str | None = None
    issuer: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    allowed_purposes: frozenset[str] = frozenset()
    allowed_disclosure: frozenset[str] = frozenset()
    example: bool = False
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # Parsed once when the registry loads; never per request.
    keys: Mapping[str, VerificationKey] = field(default_factory=dict, repr=False)


def _partner(doc: Mapping[str, Any]) -> Partner:
    keys: Mapping[str, VerificationKey] = {}
    if doc.get("jwks") is not None:
        parsed = parse_jwks(doc["jwks"])
        if not parsed.keys:
            raise ConfigurationError(f"Partner {doc['id']} publishes no usable key.")
        keys = parsed.keys
    return Partner(
        id=doc["id"],
        name_zh=doc["name"]["zh"],
        name_en=doc["name"]["en"],
        kind=doc["kind"],
        enabled=bool(doc["enabled"]),
        unit_kind=doc.get("unit_kind"),
        issuer=doc.get("issuer"),
        jwks=doc.get("jwks"),
        jwks_uri=doc.get("jwks_uri"),
        allowed_purposes=frozenset(doc.get("allowed_purposes", ())),
        allowed_disclosure=frozenset(doc.get("allowed_disclosure", ())),
        example=bool(doc.get("example", False)),
        document=doc,
        keys=keys,
    )


def load_partner_documents(directory: Path) -> dict[str, Partner]:
    """Read and validate every ``*.json`` file directly in ``directory``.

    :raises ConfigurationError: naming the file and the rule it breaks.
    """
    validator = Draft202012Validator(json.loads(_SCHEMA.read_text(encoding="utf-8")))
    partners: dict[str, Partner] = {}
    if not directory.is_dir():
        raise ConfigurationError(
            "The partners directory does not exist: set GATEWAY_PARTNERS_DIR to a folder of partner files."
        )
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConfigurationError(f"Partner file {path.name} is not valid JSON.") from None
        problems = safe_messages(validator.iter_errors(doc))
        if problems:
            raise ConfigurationError(f"Partner file {path.name}: {'; '.join(problems[:3])}")
        if doc["id"] != path.stem:
            raise ConfigurationError(f"Partner file {path.name} must be named after its id.")
        try:
            partners[doc["id"]] = _partner(doc)
        except GatewayError as exc:
            raise ConfigurationError(f"Partner file {path.name}: {exc.detail}") from None
    return partners


@dataclass(frozen=True, slots=True)
class PartnerOverride:
    """An administrator's change to a partner: ``None`` leaves the file's value in force."""

    row_version: int
    enabled: bool | None
    jwks: Mapping[str, Any] | None
    keys: Mapping[str, VerificationKey]
    allowed_purposes: frozenset[str] | None = None


def _override(row: Any) -> PartnerOverride:
    keys: Mapping[str, VerificationKey] = {}
    if row.jwks is not None:
        try:
            keys = parse_jwks(row.jwks).keys
        except GatewayError:
            # Checked when it was stored; if it cannot be read now, trust no key rather than the old ones.
            log.error("partner %s: the stored JWKS override cannot be parsed; no key is trusted", row.partner_id)
    purposes = frozenset(row.allowed_purposes) if row.allowed_purposes is not None else None
    return PartnerOverride(row.row_version, row.enabled, row.jwks, keys, purposes)


def _apply(partner: Partner, override: PartnerOverride) -> Partner:
    if override.enabled is not None:
        partner = replace(partner, enabled=override.enabled)
    if override.jwks is not None:
        partner = replace(partner, jwks=override.jwks, keys=override.keys)
    if override.allowed_purposes is not None:
        partner = replace(partner, allowed_purposes=override.allowed_purposes)
    return partner


class PartnerRegistry:
    def __init__(self, directory: Path, engine: Engine | None = None) -> None:
        self._directory = directory
        self._engine = engine
        self._lock = threading.Lock()
        self._seen_files = self._fingerprint()
        self._files: Mapping[str, Partner] = load_partner_documents(directory)
        self._overrides: Mapping[str, PartnerOverride] = {}
        self._partners: Mapping[str, Partner] = self._files
        if engine is not None:
            self.refresh_overrides()

    def _merge(self) -> None:
        self._partners = {
            pid: _apply(p, self._overrides[pid]) if pid in self._overrides else p for pid, p in self._files.items()
        }

    def get(self, partner_id: str) -> Partner | None:
        return self._partners.get(partner_id)

    def enabled(self, partner_id: str) -> Partner | None:
        partner = self._partners.get(partner_id)
        return partner if partner is not None and partner.enabled else None

    def all(self) -> list[Partner]:
        return list(self._partners.values())

    def from_file(self, partner_id: str) -> Partner | None:
        """The partner as its file describes it, without administrators' overrides."""
        return self._files.get(partner_id)

    def files(self) -> list[Partner]:
        return list(self._files.values())

    def reload(self) -> int:
        """Re-read the directory; on any error the previous snapshot stays in force."""
        with self._lock:
            fresh = load_partner_documents(self._directory)
            self._files = fresh
            self._merge()
            return len(fresh)

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self._directory.glob("*.json")))

    def reload_if_changed(self) -> bool:
        """Reload when a partner file was added, removed or edited (the files are the registry's
        source; running processes pick up an edit without a restart). A broken edit is logged and
        the previous registry stays in force."""
        seen = self._fingerprint()
        if seen == self._seen_files:
            return False
        try:
            self.reload()
        except ConfigurationError as exc:
            log.error("partner files not reloaded: %s", exc.detail)
            self._seen_files = seen  # report a broken edit once, not every tick
            return False
        self._seen_files = seen
        log.info("partner registry reloaded from %d files", len(self._files))
        return True

    def refresh_overrides(self) -> bool:
        """Re-read ``partner_overrides``; True when the registry changed."""
        if self._engine is None:
            return False
        t = partner_overrides
        with self._lock, reader(self._engine).connect() as conn:
            rows = conn.execute(
                select(t.c.partner_id, t.c.row_version, t.c.enabled, t.c.jwks, t.c.allowed_purposes)
            ).all()
            conn.rollback()
            if {r.partner_id: r.row_version for r in rows} == {k: o.row_version for k, o in self._overrides.items()}:
                return False
            known = self._overrides
            self._overrides = {
                r.partner_id: known[r.partner_id]
                if r.partner_id in known and known[r.partner_id].row_version == r.row_version
                else _override(r)
                for r in rows
            }
            self._merge()
            return True
