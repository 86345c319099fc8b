"""The scoring model: versioned data (measure 三(一)), checked and compiled once at load time.

A model document is validated in two steps. The JSON Schema (``schemas/scoring-model.schema.json``)
fixes the shape: exactly the three families, known indicator kinds and the members each kind
needs. The semantic check then covers what a schema cannot say: tiers that cover 0..max_score with
no gap or overlap, unique codes, strictly increasing scales, an age limit on every indicator that
can deduct points (a breach must not weigh on a person forever), and, when the caller passes the
catalogue's scoring items, indicator items that exist.

The result is an immutable :class:`ScoringModel` holding one ready evaluator per indicator and a
sorted table for the tier lookup, so :func:`gateway.scoring.compute` never touches the document.
"""

from __future__ import annotations

import hashlib
import json
import os
from bisect import bisect_right
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from gateway.config import bundled_path
from gateway.errors import ConfigurationError, InvalidScoringModel
from gateway.scoring.eligibility import ELIGIBILITY_ITEMS
from gateway.scoring.engine import IndicatorEvaluator, build_evaluator
from gateway.scoring.inputs import FamilyResult, IndicatorResult, Tier

__all__ = [
    "DEFAULT_MODEL_PATH",
    "FAMILIES",
    "SCHEMA_PATH",
    "Family",
    "Indicator",
    "ScoringModel",
    "load_default_model",
    "load_model",
    "validate_model_document",
]

SCHEMA_PATH = bundled_path("schemas") / "scoring-model.schema.json"
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "sx-default-2026.1.json"
# Measure 二(二) fixes these three families; the order is the order of ScoreResult.families.
FAMILIES = ("basic", "commitment", "other")


@dataclass(frozen=True, slots=True)
class Family:
    """One of the three families, with the optional bounds on its total.

    ``zero`` is the family's result when none of its indicators scored, prepared at load time.
    """

    code: str
    label_zh: str
    label_en: str
    min_points: float | None
    max_points: float | None
    zero: FamilyResult = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        points = self.bound(0.0)
        object.__setattr__(self, "zero", FamilyResult(self.code, points, 0.0, points != 0.0))

    def bound(self, points: float) -> float:
        """The family total after ``min_points``/``max_points``."""
        if self.max_points is not None and points > self.max_points:
            return self.max_points
        if self.min_points is not None and points < self.min_points:
            return self.min_points
        return points


@dataclass(frozen=True, slots=True)
class Indicator:
    """One compiled indicator. ``evaluator`` is built at load time; ``zero`` is the result for an
    indicator with no counting record, shared so that compute() builds nothing for it."""

    code: str
    family: str
    label_zh: str
    label_en: str
    item: str
    kind: str
    weight: float
    cap: float
    max_age_days: int | None
    where_code: str | None
    family_index: int = field(repr=False)
    evaluator: IndicatorEvaluator = field(repr=False, compare=False)
    zero: IndicatorResult = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, eq=False)
class ScoringModel:
    """A validated, compiled model. ``source`` is the canonical JSON the model was built from and
    ``digest`` its SHA-256, so a stored score can name exactly which document produced it."""

    model_id: str
    version: str
    effective_from: date
    max_score: int
    notice: str
    families: tuple[Family, ...]
    indicators: tuple[Indicator, ...]
    tiers: tuple[Tier, ...]
    source: str = field(repr=False)
    digest: str = field(repr=False)
    relevant_items: frozenset[str] = field(init=False, repr=False)
    _tier_mins: tuple[int, ...] = field(init=False, repr=False)
    _tiers_ascending: tuple[Tier, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ascending = tuple(sorted(self.tiers, key=lambda t: t.min_score))
        object.__setattr__(self, "_tiers_ascending", ascending)
        object.__setattr__(self, "_tier_mins", tuple(t.min_score for t in ascending))
        items = {indicator.item for indicator in self.indicators}
        object.__setattr__(self, "relevant_items", frozenset(items | ELIGIBILITY_ITEMS))

    def tier_for(self, score: int) -> Tier:
        """The tier whose inclusive band holds ``score`` (0..max_score)."""
        if not 0 <= score <= self.max_score:
            raise ValueError("score outside 0..max_score")
        return self._tiers_ascending[bisect_right(self._tier_mins, score) - 1]

    def document(self) -> dict[str, Any]:
        """A fresh copy of the model document, safe to mutate."""
        result: dict[str, Any] = json.loads(self.source)
        return result


@cache
def _validator() -> Draft202012Validator:
    try:
        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigurationError("The scoring model schema cannot be read.") from None
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _subject(document: object, path: list[str | int]) -> str:
    """Name the indicator/tier/family an error is in, by code rather than by list index."""
    if len(path) >= 2 and path[0] in ("indicators", "tiers") and isinstance(document, dict):
        entries = document.get(str(path[0]))
        index = path[1]
        if isinstance(entries, list) and isinstance(index, int) and index < len(entries):
            entry = entries[index]
            kind = "Indicator" if path[0] == "indicators" else "Tier"
            if isinstance(entry, dict) and isinstance(entry.get("code"), str):
                return f"{kind} '{entry['code']}'"
            return f"{kind} #{index + 1}"
    if len(path) >= 2 and path[0] == "families":
        return f"Family '{path[1]}'"
    return "The model"


# Members of one indicator kind that the schema forbids on the others (see the schema's allOf).
_FOREIGN_MEMBERS = {
    "scaled": frozenset({"points", "points_by_code", "per"}),
    "per_record": frozenset({"scale", "per"}),
    "per_amount": frozenset({"scale", "points_by_code"}),
}


def _instance_at(document: object, path: list[str | int]) -> Any:
    node: Any = document
    for part in path:
        node = node[part]
    return node


def _describe(error: ValidationError, document: object) -> str:
    path = list(error.absolute_path)
    where = "/" + "/".join(str(p) for p in path)
    subject = _subject(document, path)
    keyword = error.validator
    instance = error.instance
    at = f" at {where}" if path else ""
    if keyword == "required" and isinstance(instance, dict) and isinstance(error.validator_value, list):
        missing = [name for name in error.validator_value if name not in instance]
        what = f"misses required member(s) {', '.join(missing)}{at}"
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = ", ".join(sorted(k for k in instance if k not in allowed))
        what = f"has unexpected member(s) {extra}{at}"
    elif keyword is None and isinstance(_instance_at(document, path), dict):
        # A `false` sub-schema, which jsonschema reports without the member's name: in this schema
        # that is always a member the indicator's kind does not use.
        entry = _instance_at(document, path)
        kind = entry.get("kind")
        extra = sorted(set(entry) & _FOREIGN_MEMBERS.get(kind, frozenset()))
        what = f"has member(s) {', '.join(repr(m) for m in extra)} that kind '{kind}' does not use"
    elif keyword == "oneOf":
        what = "must have exactly one of 'points' or 'points_by_code'"
    elif keyword in ("enum", "const"):
        what = f"has a value not allowed at {where} (allowed: {json.dumps(error.validator_value)})"
    else:
        what = f"fails the schema rule '{keyword}' ({json.dumps(error.validator_value)}) at {where}"
    return f"{subject} {what}."


def _can_deduct(indicator: Mapping[str, Any]) -> bool:
    values: list[float] = [y for _, y in indicator.get("scale", ())]
    values += list(indicator.get("points_by_code", {}).values())
    if "points" in indicator:
        values.append(indicator["points"])
    return any(v < 0 for v in values)


def _check_semantics(document: Mapping[str, Any], known_items: Set[str] | None) -> None:
    codes: set[str] = set()
    for indicator in document["indicators"]:
        code = indicator["code"]
        if code in codes:
            raise InvalidScoringModel(f"Indicator code '{code}' is used more than once.")
        codes.add(code)
        if known_items is not None and indicator["item"] not in known_items:
            raise InvalidScoringModel(
                f"Indicator '{code}' reads item '{indicator['item']}', which is not a scoring item of "
                "the information catalogue."
            )
        inputs = [x for x, _ in indicator.get("scale", ())]
        for before, after in pairwise(inputs):
            if after <= before:
                raise InvalidScoringModel(
                    f"Indicator '{code}' has a scale whose inputs are not strictly increasing ({before} then {after})."
                )
        if _can_deduct(indicator) and "max_age_days" not in indicator:
            raise InvalidScoringModel(
                f"Indicator '{code}' deducts points but has no max_age_days: a breach must stop "
                "counting after a set time."
            )

    for name, family in document["families"].items():
        low, high = family.get("min_points"), family.get("max_points")
        if low is not None and high is not None and low > high:
            raise InvalidScoringModel(f"Family '{name}' has min_points {low} above max_points {high}.")

    tiers = document["tiers"]
    seen: set[str] = set()
    for tier in tiers:
        if tier["code"] in seen:
            raise InvalidScoringModel(f"Tier code '{tier['code']}' is used more than once.")
        seen.add(tier["code"])
        if tier["min"] > tier["max"]:
            raise InvalidScoringModel(f"Tier '{tier['code']}' has min {tier['min']} above max {tier['max']}.")
    ordered = sorted(tiers, key=lambda t: (t["min"], t["max"]))
    if ordered[0]["min"] != 0:
        raise InvalidScoringModel(
            f"Tiers leave a gap: scores 0..{ordered[0]['min'] - 1} have no tier "
            f"(the lowest, '{ordered[0]['code']}', starts at {ordered[0]['min']})."
        )
    for low_tier, high_tier in pairwise(ordered):
        if high_tier["min"] > low_tier["max"] + 1:
            raise InvalidScoringModel(
                f"Tiers leave a gap between '{low_tier['code']}' and '{high_tier['code']}': scores "
                f"{low_tier['max'] + 1}..{high_tier['min'] - 1} have no tier."
            )
        if high_tier["min"] <= low_tier["max"]:
            raise InvalidScoringModel(
                f"Tiers '{low_tier['code']}' ({low_tier['min']}..{low_tier['max']}) and "
                f"'{high_tier['code']}' ({high_tier['min']}..{high_tier['max']}) overlap."
            )
    top, max_score = ordered[-1], document["max_score"]
    if top["max"] != max_score:
        raise InvalidScoringModel(
            f"Tiers leave a gap: the highest, '{top['code']}', ends at {top['max']}, not at {max_score}."
        )


def validate_model_document(document: object, *, known_items: Set[str] | None = None) -> None:
    """Check a parsed model document against the schema, then semantically.

    :param known_items: when given (the catalogue's indicator items), every indicator must read one.
    :raises InvalidScoringModel: naming the offending indicator, tier or family.
    """
    error = best_match(_validator().iter_errors(document))
    if error is not None:
        raise InvalidScoringModel(_describe(error, document))
    assert isinstance(document, Mapping)  # the schema requires an object
    _check_semantics(document, known_items)


def _label(value: Mapping[str, str]) -> tuple[str, str]:
    return value["zh"], value["en"]


def _compile_indicator(spec: Mapping[str, Any]) -> Indicator:
    label_zh, label_en = _label(spec["label"])
    return Indicator(
        code=spec["code"],
        family=spec["family"],
        label_zh=label_zh,
        label_en=label_en,
        item=spec["item"],
        kind=spec["kind"],
        weight=float(spec.get("weight", 1)),
        cap=float(spec["cap"]),
        max_age_days=spec.get("max_age_days"),
        where_code=spec.get("where_code"),
        family_index=FAMILIES.index(spec["family"]),
        evaluator=build_evaluator(spec),
        zero=IndicatorResult(spec["code"], spec["family"], 0.0, 0.0, False, ()),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _compile(document: Mapping[str, Any], source: str) -> ScoringModel:
    families = []
    for code in FAMILIES:
        spec = document["families"][code]
        families.append(
            Family(
                code,
                *_label(spec["label"]),
                min_points=_optional_float(spec.get("min_points")),
                max_points=_optional_float(spec.get("max_points")),
            )
        )
    tiers = tuple(
        Tier(t["code"], *_label(t["label"]), min_score=t["min"], max_score=t["max"]) for t in document["tiers"]
    )
    return ScoringModel(
        model_id=document["model"],
        version=document["version"],
        effective_from=date.fromisoformat(document["effective_from"]),
        max_score=document["max_score"],
        notice=document["notice"],
        families=tuple(families),
        indicators=tuple(_compile_indicator(spec) for spec in document["indicators"]),
        tiers=tiers,
        source=source,
        digest=hashlib.sha256(source.encode("utf-8")).hexdigest(),
    )


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # json.loads would silently keep the last value, hiding an editing mistake.
            raise InvalidScoringModel(f"The model document repeats the member '{key}'.")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise InvalidScoringModel(f"The model document contains the non-JSON number {name}.")


def _parse(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidScoringModel(
            f"The model document is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from None


def load_model(
    source: str | os.PathLike[str] | Mapping[str, Any], *, known_items: Set[str] | None = None
) -> ScoringModel:
    """Load, validate and compile a model from a JSON file path or an already parsed document.

    :param known_items: the catalogue's indicator item codes; when given, every indicator must use one.
    :raises InvalidScoringModel: if the file is unreadable or the document invalid.
    """
    if isinstance(source, Mapping):
        try:
            document = _parse(json.dumps(source, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError):
            raise InvalidScoringModel("The model document holds values that are not JSON.") from None
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            # Only the file name: a full path says nothing useful to the reader of a problem document.
            raise InvalidScoringModel(f"The model file '{path.name}' cannot be read.") from None
        document = _parse(text)
    validate_model_document(document, known_items=known_items)
    assert isinstance(document, Mapping)
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return _compile(document, canonical)


def load_default_model(*, known_items: Set[str] | None = None) -> ScoringModel:
    """The model shipped with the gateway (project defaults, not official figures; see its notice)."""
    return load_model(DEFAULT_MODEL_PATH, known_items=known_items)
