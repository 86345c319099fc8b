"""The compiled fast checks agree with jsonschema on every instance we can think of, for every
catalogue item and for the ingestion envelope."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from gateway.catalogue import load_catalogue
from gateway.catalogue.fastcheck import compile_check
from gateway.config import PROJECT_ROOT

FORMATS = FormatChecker(formats=["date"])
ENVELOPE = json.loads((PROJECT_ROOT / "schemas" / "ingest-record.schema.json").read_text(encoding="utf-8"))

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 0.0, 3.0, 3.5, 24, 24.0, 24.5, 1000, 1001, -0.5, 1e9,
    "", "a", "x" * 64, "x" * 65, "x" * 129, "2026-02-30", "2026-02-28", "20260228", "2026-2-28", " ",
    "valid", "granted", "household_registration", "minor", "national", "app", "full", "\u5f20", "a\nb",
    [], [1], {}, {"a": 1},
]  # fmt: skip


def _example(schema: dict[str, Any], rng: random.Random) -> Any:
    """A valid instance of the covered subset, built from the schema."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return {
            name: _example(sub, rng)
            for name, sub in schema.get("properties", {}).items()
            if name in schema.get("required", []) or rng.random() < 0.5
        }
    if kind == "string":
        if schema.get("format") == "date":
            return "2025-07-14"
        if "pattern" in schema:
            return "REF-" + str(rng.randint(1, 999))
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return int(schema.get("minimum", 0)) + 1
    if kind == "number":
        low = schema.get("exclusiveMinimum", schema.get("minimum", 0))
        return low + 1.5
    return None


def _mutations(instance: Any, schema: dict[str, Any], rng: random.Random) -> list[Any]:
    out = [instance]
    if isinstance(instance, dict):
        for name in list(instance):
            removed = dict(instance)
            del removed[name]
            out.append(removed)
            for odd in rng.sample(ODD_VALUES, 12):
                changed = copy.deepcopy(instance)
                changed[name] = odd
                out.append(changed)
            sub = schema.get("properties", {}).get(name)
            if sub and sub.get("type") == "object":
                for inner in _mutations(instance[name], sub, rng)[1:]:
                    out.append({**instance, name: inner})
        out.append({**instance, "unexpected": 1})
    out.extend(rng.sample(ODD_VALUES, 5))
    return out


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    catalogue = json.loads((PROJECT_ROOT / "gateway" / "catalogue" / "sx-catalogue-2026.1.json").read_text("utf-8"))
    return [("envelope", ENVELOPE)] + [(item["code"], item["attributes"]) for item in catalogue["items"]]


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[n for n, _ in _schemas()])
def test_fast_check_agrees_with_jsonschema(name: str, schema: dict[str, Any]) -> None:
    fast = compile_check(schema)
    assert fast is not None, f"{name}: the catalogue schema left the compiled subset"
    reference = Draft202012Validator(schema, format_checker=FORMATS)
    rng = random.Random(name)
    checked = valid = 0
    for _ in range(40):
        for instance in _mutations(_example(schema, rng), schema, rng):
            expected = reference.is_valid(instance)
            assert fast(instance) == expected, f"{name}: disagree on {instance!r}"
            checked += 1
            valid += expected
    assert valid and checked - valid  # both outcomes were exercised


def test_every_loaded_item_uses_its_fast_check() -> None:
    assert all(item.fast_check is not None for item in load_catalogue().items.values())


def test_unsupported_keywords_fall_back_to_jsonschema() -> None:
    assert compile_check({"type": "object", "anyOf": [{"required": ["a"]}]}) is None
    assert compile_check({"type": ["string", "null"]}) is None
    assert compile_check({"type": "string", "format": "email"}) is None
