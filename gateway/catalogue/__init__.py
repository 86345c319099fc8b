"""The information catalogue (信息目录, measure 二(三)) as a loaded, precompiled value.

Loading validates the document against ``schemas/catalogue.schema.json`` and every item's
attribute schema against the 2020-12 metaschema, then builds one validator per item — built once,
never per record. Validation messages are composed from the schema side only, so a rejected
record's values (which may be personal data) are never echoed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from gateway.catalogue.fastcheck import Check, compile_check
from gateway.config import bundled_path
from gateway.errors import InvalidCatalogue

__all__ = [
    "DEFAULT_CATALOGUE_PATH",
    "Catalogue",
    "CatalogueItem",
    "catalogue_from_document",
    "load_catalogue",
    "safe_messages",
]

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("sx-catalogue-2026.1.json")
_SCHEMA_PATH = bundled_path("schemas") / "catalogue.schema.json"
_FORMATS = FormatChecker(formats=["date"])
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


def _where(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path if isinstance(p, int) or (isinstance(p, str) and _SAFE_NAME.match(p))]
    return ".".join(parts)


def safe_messages(errors: Iterable[ValidationError], prefix: str = "") -> list[str]:
    """Readable messages naming the failed rule and where, never the offending value."""
    out: list[str] = []
    for error in errors:
        where = ".".join(p for p in (prefix.rstrip("."), _where(error)) if p) or "(root)"
        rule = error.validator
        if rule == "required" and isinstance(error.instance, dict) and isinstance(error.validator_value, list):
            missing = [str(p) for p in error.validator_value if p not in error.instance]
            out.append(f"{where}: missing {', '.join(missing)}")
        elif rule == "additionalProperties":
            out.append(f"{where}: unexpected property")
        elif rule in (
            "type",
            "enum",
            "const",
            "format",
            "pattern",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
        ):
            expected = error.validator_value
            shown = json.dumps(expected, ensure_ascii=False) if rule != "pattern" else "the pattern"
            out.append(f"{where}: must satisfy {rule} {shown}")
        else:
            out.append(f"{where}: fails {rule}")
    return sorted(out)


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    code: str
    family: str
    use: str
    name_zh: str
    name_en: str
    suppliers: Mapping[str, str]  # unit kind → status a new record from that kind starts in
    number_attr: str | None
    code_attr: str | None
    until_attr: str | None
    validator: Draft202012Validator
    fast_check: Check | None = None
    # Issue 14: a resident may apply for repair of a record of this item this many days after the
    # event at the earliest; None when the catalogue allows no repair application for the item.
    repair_min_days: int | None = None

    def initial_status_for(self, unit_kind: str) -> str | None:
        """The status a record from this kind of unit starts in, or None if the kind may not supply it."""
        return self.suppliers.get(unit_kind)

    def attribute_errors(self, attributes: Any) -> list[str]:
        # The compiled check answers for valid records in a few µs; jsonschema explains the rest.
        if self.fast_check is not None and self.fast_check(attributes):
            return []
        return safe_messages(self.validator.iter_errors(attributes), "attributes.")

    def scoring_values(self, attributes: Mapping[str, Any]) -> tuple[float | None, str | None, date | None]:
        """The (number, code, until) the scoring core reads, from already validated attributes."""
        number = attributes.get(self.number_attr) if self.number_attr else None
        code = attributes.get(self.code_attr) if self.code_attr else None
        until = attributes.get(self.until_attr) if self.until_attr else None
        return (
            float(number) if number is not None else None,
            str(code) if code is not None else None,
            date.fromisoformat(until) if until else None,
        )


@dataclass(frozen=True, slots=True)
class Catalogue:
    name: str
    version: str
    effective_from: date
    unit_kinds: Mapping[str, tuple[str, str]]
    items: Mapping[str, CatalogueItem]
    document: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def item(self, code: str) -> CatalogueItem | None:
        return self.items.get(code)

    @property
    def indicator_items(self) -> frozenset[str]:
        return frozenset(c for c, i in self.items.items() if i.use == "indicator")


def _document_validator() -> Draft202012Validator:
    schema = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=_FORMATS)


@functools.lru_cache(maxsize=512)
def _attribute_schema_problems(canonical_schema: str) -> tuple[str, ...]:
    """What is wrong with an item's attribute schema as JSON Schema, checked once per process per
    schema: the catalogue is compiled at every start and at every governance read, and checking a
    schema against the meta-schema costs more than the rest of the compilation put together."""
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    return tuple(safe_messages(meta.iter_errors(json.loads(canonical_schema))))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and check a catalogue document.

    :raises InvalidCatalogue: naming the first problems found.
    """
    path = path or DEFAULT_CATALOGUE_PATH
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidCatalogue("The catalogue file cannot be read as JSON.") from None
    return catalogue_from_document(doc)


def catalogue_from_document(doc: Any) -> Catalogue:
    """Check and compile a parsed catalogue document (a file, or a version governed in the database).

    :raises InvalidCatalogue: naming the first problems found.
    """
    problems = safe_messages(_document_validator().iter_errors(doc))
    if problems:
        raise InvalidCatalogue("; ".join(problems[:5]))
    kinds = {k: (v["zh"], v["en"]) for k, v in doc["unit_kinds"].items()}
    items: dict[str, CatalogueItem] = {}
    for raw in doc["items"]:
        code = raw["code"]
        if code in items:
            raise InvalidCatalogue(f"Item {code} appears twice.")
        attrs = raw["attributes"]
        if _attribute_schema_problems(json.dumps(attrs, sort_keys=True, ensure_ascii=False)):
            raise InvalidCatalogue(f"Item {code}: its attribute schema is not valid JSON Schema.")
        suppliers: dict[str, str] = {}
        for s in raw["suppliers"]:
            if s["kind"] not in kinds:
                raise InvalidCatalogue(f"Item {code} names an undeclared unit kind {s['kind']}.")
            suppliers[s["kind"]] = s.get("initial_status", "valid")
        scoring = raw["scoring"]
        for key in ("number", "code", "until"):
            attr = scoring.get(key)
            if attr is not None and attr not in attrs.get("properties", {}):
                raise InvalidCatalogue(f"Item {code} maps {key} to an attribute it does not define.")
        items[code] = CatalogueItem(
            code=code,
            family=raw["family"],
            use=scoring["use"],
            name_zh=raw["name"]["zh"],
            name_en=raw["name"]["en"],
            suppliers=suppliers,
            number_attr=scoring.get("number"),
            code_attr=scoring.get("code"),
            until_attr=scoring.get("until"),
            validator=Draft202012Validator(attrs, format_checker=_FORMATS),
            fast_check=compile_check(attrs),
            repair_min_days=raw["repair"]["min_days_since_event"] if raw.get("repair", {}).get("allowed") else None,
        )
    return Catalogue(
        name=doc["catalogue"],
        version=doc["version"],
        effective_from=date.fromisoformat(doc["effective_from"]),
        unit_kinds=kinds,
        items=items,
        document=doc,
    )
