"""The partner registry: one JSON file per partner under ``GATEWAY_PARTNERS_DIR``.

Loaded at start and reloadable without a restart: :meth:`PartnerRegistry.reload` builds a new
immutable snapshot and swaps it in one assignment, so a request sees either the old or the new
registry, never half of each. Every file is validated by ``schemas/partner.schema.json``; one bad
file fails the whole load (and a reload keeps the previous snapshot), because silently dropping a
partner would look like a disabled one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from gateway.catalogue import safe_messages
from gateway.config import PROJECT_ROOT
from gateway.errors import ConfigurationError, GatewayError
from gateway.exchange import VerificationKey, parse_jwks

__all__ = ["Partner", "PartnerRegistry", "load_partner_documents"]

_SCHEMA = PROJECT_ROOT / "schemas" / "partner.schema.json"


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
        raise ConfigurationError("The partners directory does not exist.")
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


class PartnerRegistry:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._partners: Mapping[str, Partner] = load_partner_documents(directory)

    def get(self, partner_id: str) -> Partner | None:
        return self._partners.get(partner_id)

    def enabled(self, partner_id: str) -> Partner | None:
        partner = self._partners.get(partner_id)
        return partner if partner is not None and partner.enabled else None

    def all(self) -> list[Partner]:
        return list(self._partners.values())

    def reload(self) -> int:
        """Re-read the directory; on any error the previous snapshot stays in force."""
        with self._lock:
            fresh = load_partner_documents(self._directory)
            self._partners = fresh
            return len(fresh)
