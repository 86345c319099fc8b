"""Tier schemes and crosswalks: translating one city's tiers onto the common regional scheme and back.

Raw scores are never compared across cities (the provincial evaluation puts 97.9 % of people in
800–850 of 1000; city scores are built around 550–750): a local tier, or a band of a local score,
maps to a level of the common scheme, and a common level maps back to a local equivalent. A
crosswalk is checked when it is loaded: total (every local tier, or the whole score range, maps),
monotonic (a higher local tier never maps to a lower common level), no gap and no overlap, and
every common level has exactly one local equivalent, monotonic too (a higher common level never
maps back to a lower local tier).

Score bands must cover the local scale exactly: the scheme's ``score_range`` or, when it has none,
the range its tiers' ``min_score``/``max_score`` span — a scheme without ``score_range`` whose tiers
leave either end open (a top tier without ``max_score``, a bottom one without ``min_score``) cannot
be mapped by band at all. A band-only crosswalk must still place a tier-only assertion: every local
tier needs a score band (its ``min_score``/``max_score``, an open end read as the scale's end) and
maps to the lowest level any score of that band reaches, so a tier is never credited above what
every score in it guarantees. A disclosed score is still placed by its own band.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from gateway.config import bundled_path
from gateway.errors import GatewayError

__all__ = [
    "UNRATED",
    "Crosswalk",
    "InvalidMapping",
    "Mappings",
    "TierScheme",
    "load_mappings",
    "validate_crosswalk",
]

UNRATED = "unrated"
_SCHEMAS = bundled_path("schemas")


class InvalidMapping(GatewayError):
    code = "invalid_mapping"
    title = "The tier scheme or crosswalk is invalid"
    status = 422


@dataclass(frozen=True, slots=True)
class SchemeTier:
    code: str
    rank: int
    label_zh: str
    label_en: str
    min_score: int | None
    max_score: int | None


@dataclass(frozen=True, slots=True)
class TierScheme:
    scheme: str
    kind: str
    provisional: bool
    tiers: tuple[SchemeTier, ...]
    document: Mapping[str, Any]

    def tier(self, code: str) -> SchemeTier | None:
        return next((t for t in self.tiers if t.code == code), None)


@dataclass(frozen=True, slots=True)
class Crosswalk:
    id: str
    version: int
    local_scheme: str
    common_scheme: str
    to_common_by_tier: Mapping[str, str]
    to_common_by_band: tuple[tuple[int, int, str], ...]
    from_common: Mapping[str, str]
    digest: str
    document: Mapping[str, Any]
    # A band-only crosswalk: each tier's level derived from the bands (the lowest its scores reach).
    to_common_by_tier_band: Mapping[str, str] = field(default_factory=dict)

    def common_level(self, local_tier: str | None = None, score: int | None = None) -> str:
        """The common level for a local tier (or a score on the local scale); unrated if none."""
        if local_tier is not None and local_tier in self.to_common_by_tier:
            return self.to_common_by_tier[local_tier]
        if score is not None:
            for low, high, level in self.to_common_by_band:
                if low <= score <= high:
                    return level
        if local_tier is not None and local_tier in self.to_common_by_tier_band:
            return self.to_common_by_tier_band[local_tier]
        return UNRATED

    def local_equivalent(self, common_level: str) -> str | None:
        return self.from_common.get(common_level)


def canonical_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces): the content hash a published
    version is known by."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((_SCHEMAS / name).read_text(encoding="utf-8")))


def _scheme(doc: Mapping[str, Any]) -> TierScheme:
    tiers = tuple(
        SchemeTier(t["code"], t["rank"], t["label"]["zh"], t["label"]["en"], t.get("min_score"), t.get("max_score"))
        for t in doc["tiers"]
    )
    if len({t.code for t in tiers}) != len(tiers):
        raise InvalidMapping(f"Scheme {doc['scheme']} repeats a tier code.")
    return TierScheme(doc["scheme"], doc["kind"], bool(doc["provisional"]), tiers, doc)


def _score_scale(local: TierScheme, ident: str) -> tuple[int, int]:
    """The local scale bands must cover: ``score_range``, else the span of the tiers' bounds."""
    rng = local.document.get("score_range")
    if rng:
        return int(rng["min"]), int(rng["max"])
    lows = [t.min_score for t in local.tiers if t.code != UNRATED]
    highs = [t.max_score for t in local.tiers if t.code != UNRATED]
    if not lows or None in lows or None in highs:
        raise InvalidMapping(
            f"{ident}: {local.scheme} has no score_range and its tiers leave the scale open, "
            "so it cannot be mapped by score band (map it by tier)."
        )
    return min(x for x in lows if x is not None), max(x for x in highs if x is not None)


def _tiers_by_band(
    local: TierScheme,
    bands: list[tuple[int, int, str]],
    rank_of_common: Mapping[str, int],
    scale: tuple[int, int],
    ident: str,
) -> dict[str, str]:
    """Each local tier's level under a band-only crosswalk: the lowest level its scores reach."""
    placed: dict[str, str] = {}
    for tier in local.tiers:
        if tier.code == UNRATED:
            continue
        if tier.min_score is None and tier.max_score is None:
            raise InvalidMapping(
                f"{ident}: tier {tier.code!r} has no score band, so a tier-only assertion could not be placed "
                "(map it by tier)."
            )
        low = tier.min_score if tier.min_score is not None else scale[0]
        high = tier.max_score if tier.max_score is not None else scale[1]
        reached = [lvl for start, end, lvl in bands if start <= high and low <= end]
        if low > high or low < scale[0] or high > scale[1] or not reached:
            raise InvalidMapping(f"{ident}: tier {tier.code!r} lies outside {scale[0]}–{scale[1]}.")
        placed[tier.code] = max(reached, key=lambda lvl: rank_of_common[lvl])
    return placed


def _from_common(
    doc: Mapping[str, Any], local: TierScheme, rank_of_common: Mapping[str, int], ident: str
) -> dict[str, str]:
    """``from_common``: each common level once, to a real local tier, monotonic by rank."""
    from_common: dict[str, str] = {}
    for entry in doc["from_common"]:
        if entry["common"] not in rank_of_common:
            raise InvalidMapping(f"{ident}: {entry['common']!r} is not a level of the common scheme.")
        if entry["common"] in from_common:
            raise InvalidMapping(f"{ident}: common level {entry['common']!r} is mapped back twice.")
        tier = local.tier(entry["local"])
        if tier is None or tier.code == UNRATED:
            raise InvalidMapping(f"{ident}: {entry['local']!r} is not a tier of {local.scheme}.")
        from_common[entry["common"]] = entry["local"]
    missing = [c for c in rank_of_common if c not in from_common]
    if missing:
        raise InvalidMapping(f"{ident}: common levels {', '.join(missing)} have no local equivalent.")
    # rank 1 is the highest on both schemes: a better common level never comes back as a worse tier.
    ordered = sorted((rank_of_common[c], local.tier(code).rank) for c, code in from_common.items())  # type: ignore[union-attr]
    for (_, a), (_, b) in pairwise(ordered):
        if b < a:
            raise InvalidMapping(f"{ident}: a higher common level maps back to a lower local tier (not monotonic).")
    return from_common


def validate_crosswalk(doc: Mapping[str, Any], local: TierScheme, common: TierScheme) -> Crosswalk:
    """Check a crosswalk document against its two schemes.

    :raises InvalidMapping: naming the first rule broken (unknown tier, gap, overlap, not total,
        not monotonic, a common level without local equivalent).
    """
    problems = sorted(_validator("crosswalk.schema.json").iter_errors(doc), key=lambda e: list(e.path))
    if problems:
        raise InvalidMapping("The crosswalk does not match crosswalk.schema.json.")
    ident = f"{doc['id']} v{doc['version']}"
    rank_of_common = {t.code: t.rank for t in common.tiers if t.code != UNRATED}
    by_tier: dict[str, str] = {}
    bands: list[tuple[int, int, str]] = []
    for entry in doc["to_common"]:
        level = entry["common"]
        if level not in rank_of_common:
            raise InvalidMapping(f"{ident}: {level!r} is not a level of {common.scheme}.")
        if "local" in entry:
            if local.tier(entry["local"]) is None:
                raise InvalidMapping(f"{ident}: {entry['local']!r} is not a tier of {local.scheme}.")
            if entry["local"] in by_tier:
                raise InvalidMapping(f"{ident}: tier {entry['local']!r} is mapped twice.")
            by_tier[entry["local"]] = level
        else:
            if entry["min_score"] > entry["max_score"]:
                raise InvalidMapping(f"{ident}: a band ends before it starts.")
            bands.append((entry["min_score"], entry["max_score"], level))
    if by_tier:
        unmapped = [t.code for t in local.tiers if t.code != UNRATED and t.code not in by_tier]
        if unmapped:
            raise InvalidMapping(f"{ident}: local tiers {', '.join(unmapped)} do not map (not total).")
        # rank 1 is the highest: a better local tier must never land on a worse common level.
        ordered = sorted((local.tier(c).rank, rank_of_common[lvl]) for c, lvl in by_tier.items())  # type: ignore[union-attr]
        for (_, a), (_, b) in pairwise(ordered):
            if b < a:
                raise InvalidMapping(f"{ident}: a higher local tier maps to a lower common level (not monotonic).")
    by_tier_band: dict[str, str] = {}
    if bands:
        bands.sort()
        low, high = _score_scale(local, ident)
        if bands[0][0] != low or bands[-1][1] != high:
            raise InvalidMapping(f"{ident}: the bands do not cover {low}–{high}.")
        for (_, end, lvl_a), (start, _, lvl_b) in pairwise(bands):
            if start <= end:
                raise InvalidMapping(f"{ident}: two bands overlap at {start}.")
            if start != end + 1:
                raise InvalidMapping(f"{ident}: a gap between {end} and {start}.")
            if rank_of_common[lvl_b] > rank_of_common[lvl_a]:
                raise InvalidMapping(f"{ident}: a higher band maps to a lower common level (not monotonic).")
        if not by_tier:
            by_tier_band = _tiers_by_band(local, bands, rank_of_common, (low, high), ident)
    from_common = _from_common(doc, local, rank_of_common, ident)
    return Crosswalk(
        id=doc["id"],
        version=int(doc["version"]),
        local_scheme=doc["local_scheme"],
        common_scheme=doc["common_scheme"],
        to_common_by_tier=by_tier,
        to_common_by_band=tuple(bands),
        from_common=from_common,
        digest=canonical_digest(doc),
        document=doc,
        to_common_by_tier_band=by_tier_band,
    )


@dataclass(frozen=True, slots=True)
class Mappings:
    schemes: Mapping[str, TierScheme]
    crosswalks: Mapping[str, Crosswalk]  # keyed by local scheme

    def crosswalk_for(self, local_scheme: str) -> Crosswalk | None:
        return self.crosswalks.get(local_scheme)


def load_mappings(directory: Path) -> Mappings:
    """Load ``schemes/*.json`` and ``crosswalks/*.json`` under ``directory``, validating each.

    :raises InvalidMapping: for the first file that breaks its schema or a crosswalk rule.
    """
    scheme_validator = _validator("tier-scheme.schema.json")
    schemes: dict[str, TierScheme] = {}
    for path in sorted((directory / "schemes").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if any(True for _ in scheme_validator.iter_errors(doc)):
            raise InvalidMapping(f"{path.name} does not match tier-scheme.schema.json.")
        schemes[doc["scheme"]] = _scheme(doc)
    crosswalks: dict[str, Crosswalk] = {}
    for path in sorted((directory / "crosswalks").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        local, common = schemes.get(doc.get("local_scheme", "")), schemes.get(doc.get("common_scheme", ""))
        if local is None or common is None:
            raise InvalidMapping(f"{path.name} names a scheme that is not published.")
        crosswalks[local.scheme] = validate_crosswalk(doc, local, common)
    return Mappings(schemes=schemes, crosswalks=crosswalks)
