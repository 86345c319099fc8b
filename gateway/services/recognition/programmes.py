"""Incentive programmes as data: ``partners/programmes/*.json``, validated once when the gateway starts.

A programme belongs to one partner (``owner``, plus any partners it is ``open_to``), serves one
purpose, and grants benefits at thresholds of one tier scheme: common levels of ``yrd-common/1``
or tiers of a local scheme. Each file is checked against ``schemas/programme.schema.json`` with a
prebuilt validator, then semantically: the scheme is published and of the right kind, every
threshold is a tier of it (never ``unrated``), thresholds rise strictly, the owner is a partner
that may ask for decisions, the dates are ordered. One bad file fails the load, as with partners:
a silently dropped programme would look like a person who does not qualify.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

from gateway.catalogue import safe_messages
from gateway.config import bundled_path
from gateway.errors import ConfigurationError
from gateway.exchange.tiers import UNRATED, TierScheme, canonical_digest
from gateway.partners import PartnerRegistry

__all__ = [
    "DECIDING_KINDS",
    "Evaluation",
    "Grant",
    "InvalidProgramme",
    "Programme",
    "Programmes",
    "evaluate",
    "load_programmes",
    "parse_programme",
]

log = logging.getLogger(__name__)
_SCHEMA: Final = bundled_path("schemas") / "programme.schema.json"
# Partners that run programmes and ask for eligibility decisions.
DECIDING_KINDS: Final = frozenset({"financial_institution", "incentive_provider"})
_BASIS_KIND: Final = {"common_level": "common", "local_tier": "local"}


class InvalidProgramme(ConfigurationError):
    code = "invalid_programme"
    title = "A programme file is invalid"


@dataclass(frozen=True, slots=True)
class Grant:
    min_level: str
    rank: int  # the rank of min_level in the rule's scheme; 1 is the highest
    benefit: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Programme:
    id: str
    version: int
    owner: str
    open_to: frozenset[str]
    purpose: str
    basis: str  # common_level | local_tier
    scheme: str
    grants: tuple[Grant, ...]  # lowest threshold first
    ranks: Mapping[str, int]  # every tier of the rule's scheme, captured at load
    valid_from: date
    valid_until: date | None
    example: bool
    digest: str
    document: Mapping[str, Any] = field(repr=False)

    def offered_to(self, partner_id: str) -> bool:
        return partner_id == self.owner or partner_id in self.open_to

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def grant_for(self, level: str) -> Grant | None:
        """The best grant whose threshold ``level`` reaches; ``None`` below every threshold.

        ``unrated`` and codes outside the scheme reach nothing: a level we cannot place is
        never treated as good enough.
        """
        rank = self.ranks.get(level, 0)
        if rank < 1:
            return None
        best = None
        for grant in self.grants:
            if rank <= grant.rank:
                best = grant
        return best

    def reference(self) -> dict[str, Any]:
        """What a decision or a recognition names: id, version, content hash, example flag."""
        return {"id": self.id, "version": self.version, "digest": self.digest, "example": self.example}

    def summary(self) -> dict[str, Any]:
        return {**self.reference(), "name": dict(self.document["name"]), "purpose": self.purpose}


@dataclass(frozen=True, slots=True)
class Programmes:
    by_id: Mapping[str, Programme]

    def get(self, programme_id: str) -> Programme | None:
        return self.by_id.get(programme_id)

    def offered_by(self, partner_id: str, purpose: str | None = None) -> list[Programme]:
        return [
            p for p in self.by_id.values() if p.offered_to(partner_id) and (purpose is None or p.purpose == purpose)
        ]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one programme's rule for one person: eligible exactly when ``grant`` is set."""

    grant: Grant | None
    level: Mapping[str, str] | None  # {basis, scheme, code}: the level the rule was applied to
    reasons: tuple[Mapping[str, str], ...]

    @property
    def eligible(self) -> bool:
        return self.grant is not None


def _reason(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


def evaluate(programme: Programme, level: str | None, common_level: str, *, on: date) -> Evaluation:
    """Apply ``programme``'s rule to a person whose level on the rule's scheme is ``level``
    (``None`` when the common level has no equivalent there) on the Shaoxing day ``on``.

    Reasons use stable codes: ``programme_not_in_force``, ``level_unrated``,
    ``no_equivalent_on_scheme``, ``below_threshold``, ``threshold_met``.
    """
    used = None if level is None else {"basis": programme.basis, "scheme": programme.scheme, "code": level}
    if not programme.in_force(on):
        reason = _reason("programme_not_in_force", "The programme is not in force on this day.")
        return Evaluation(None, used, (reason,))
    if common_level == UNRATED or level is None:
        if common_level == UNRATED:
            reason = _reason("level_unrated", "The assertion's tier could not be placed on the common scheme.")
        else:
            reason = _reason("no_equivalent_on_scheme", f"The level has no equivalent on {programme.scheme}.")
        return Evaluation(None, used, (reason,))
    grant = programme.grant_for(level)
    if grant is None:
        lowest = programme.grants[0].min_level
        detail = f"The level {level} is below the programme's lowest threshold, {lowest}."
        return Evaluation(None, used, (_reason("below_threshold", detail),))
    detail = f"The level {level} reaches the threshold {grant.min_level}."
    return Evaluation(grant, used, (_reason("threshold_met", detail),))


def _date(value: str, name: str, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidProgramme(f"{where}: {name} is not a date.") from None


def _programme(doc: Mapping[str, Any], where: str, schemes: Mapping[str, TierScheme]) -> Programme:
    rule = doc["rule"]
    scheme = schemes.get(rule["scheme"])
    if scheme is None:
        raise InvalidProgramme(f"{where}: scheme {rule['scheme']!r} is not published.")
    if scheme.kind != _BASIS_KIND[rule["basis"]]:
        raise InvalidProgramme(f"{where}: a {rule['basis']} rule needs a {_BASIS_KIND[rule['basis']]} scheme.")
    ranks = {t.code: t.rank for t in scheme.tiers}
    grants = []
    for entry in rule["grants"]:
        level = entry["min_level"]
        if level == UNRATED or ranks.get(level, 0) < 1:
            raise InvalidProgramme(f"{where}: {level!r} is not a rated tier of {scheme.scheme}.")
        grants.append(Grant(level, ranks[level], entry["benefit"]))
    for lower, higher in pairwise(grants):
        # Listed from the lowest threshold up: each must be strictly better (a smaller rank).
        if higher.rank >= lower.rank:
            raise InvalidProgramme(f"{where}: thresholds must rise strictly ({lower.min_level} → {higher.min_level}).")
    valid_from = _date(doc["valid_from"], "valid_from", where)
    valid_until = _date(doc["valid_until"], "valid_until", where) if "valid_until" in doc else None
    if valid_until is not None and valid_until < valid_from:
        raise InvalidProgramme(f"{where}: valid_until is before valid_from.")
    return Programme(
        id=doc["id"],
        version=int(doc["version"]),
        owner=doc["owner"],
        open_to=frozenset(doc.get("open_to", ())),
        purpose=doc["purpose"],
        basis=rule["basis"],
        scheme=scheme.scheme,
        grants=tuple(grants),
        ranks=ranks,
        valid_from=valid_from,
        valid_until=valid_until,
        example=bool(doc["example"]),
        digest=canonical_digest(doc),
        document=doc,
    )


def _check_partners(programme: Programme, where: str, partners: PartnerRegistry) -> None:
    for partner_id in sorted({programme.owner} | programme.open_to):
        partner = partners.get(partner_id)
        if partner is None or partner.kind not in DECIDING_KINDS:
            raise InvalidProgramme(f"{where}: {partner_id} is not a financial institution or incentive provider.")
    owner = partners.get(programme.owner)
    if owner is not None and programme.purpose not in owner.allowed_purposes:
        # Not fatal: the owner can still decide on partner cities' assertions carrying that purpose
        # once its registry entry allows it; until then every request is refused at the scope check.
        log.warning("programme %s: its purpose is not among %s's allowed purposes", programme.id, owner.id)


def load_programmes(
    directory: Path,
    *,
    schemes: Mapping[str, TierScheme],
    partners: PartnerRegistry | None = None,
) -> Programmes:
    """Read and validate every ``*.json`` in ``directory`` (a missing directory means none).

    :raises InvalidProgramme: naming the file and the first rule it breaks.
    """
    if not directory.is_dir():
        return Programmes(by_id={})
    validator = Draft202012Validator(json.loads(_SCHEMA.read_text(encoding="utf-8")))
    programmes: dict[str, Programme] = {}
    for path in sorted(directory.glob("*.json")):
        where = f"Programme file {path.name}"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InvalidProgramme(f"{where} is not valid JSON.") from None
        if isinstance(doc, dict) and doc.get("id") != path.stem:
            raise InvalidProgramme(f"{where} must be named after its id.")
        programme = parse_programme(doc, where, schemes=schemes, partners=partners, validator=validator)
        programmes[programme.id] = programme
    return Programmes(by_id=programmes)


def parse_programme(
    doc: Any,
    where: str,
    *,
    schemes: Mapping[str, TierScheme],
    partners: PartnerRegistry | None = None,
    validator: Draft202012Validator | None = None,
) -> Programme:
    """Check one parsed programme document (schema, then the semantic rules) and compile it.

    :raises InvalidProgramme: naming the first rule it breaks.
    """
    validator = validator or Draft202012Validator(json.loads(_SCHEMA.read_text(encoding="utf-8")))
    problems = safe_messages(validator.iter_errors(doc))
    if problems:
        raise InvalidProgramme(f"{where}: {'; '.join(problems[:3])}")
    programme = _programme(doc, where, schemes)
    if partners is not None:
        _check_partners(programme, where, partners)
    return programme
