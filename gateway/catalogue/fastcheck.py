"""Fast acceptance checks compiled from the small subset of JSON Schema the catalogue uses.

Ingestion validates every record twice (the envelope and the item's attributes). A prebuilt
jsonschema validator costs ~100 µs a record — most of an ingestion batch's time. This module
compiles a schema into a plain predicate that answers only "valid or not", in a few µs; when it
says no, or when a schema uses a keyword it does not know, the caller asks jsonschema, which stays
the authority for error messages and for every schema this compiler does not cover. A test checks
on generated instances that both always agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

__all__ = ["Check", "compile_check"]

Check = Callable[[Any], bool]

_KNOWN = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "enum", "const", "minLength", "maxLength",
        "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "format", "description",
        "title", "$schema", "$id", "default", "examples",
    }
)  # fmt: skip
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


class Unsupported(Exception):
    """The schema uses something the compiler does not cover; use jsonschema alone."""


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _type_test(kind: str) -> Check:
    if kind == "object":
        return lambda v: isinstance(v, dict)
    if kind == "string":
        return lambda v: isinstance(v, str)
    if kind == "integer":
        # JSON Schema: 3.0 is an integer; booleans are not numbers.
        return lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if kind == "number":
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if kind == "boolean":
        return lambda v: isinstance(v, bool)
    raise Unsupported(kind)


def _compile(schema: Mapping[str, Any]) -> Check:
    if not isinstance(schema, Mapping) or set(schema) - _KNOWN:
        raise Unsupported("keyword")
    tests: list[Check] = []
    kind = schema.get("type")
    if kind is not None:
        if not isinstance(kind, str):
            raise Unsupported("type list")
        tests.append(_type_test(kind))
    if "enum" in schema:
        options = list(schema["enum"])
        if not all(isinstance(o, str) for o in options):
            raise Unsupported("non-string enum")
        allowed = frozenset(options)
        tests.append(lambda v: isinstance(v, str) and v in allowed)
    if "const" in schema:
        raise Unsupported("const")
    strings: list[Check] = []
    if "minLength" in schema:
        low = int(schema["minLength"])
        strings.append(lambda v: len(v) >= low)
    if "maxLength" in schema:
        high = int(schema["maxLength"])
        strings.append(lambda v: len(v) <= high)
    if "pattern" in schema:
        rx = re.compile(schema["pattern"])
        strings.append(lambda v: rx.search(v) is not None)
    if schema.get("format") == "date":
        strings.append(_is_date)
    elif "format" in schema:
        raise Unsupported("format")
    if strings:
        # String keywords only constrain strings (JSON Schema applicability rules).
        tests.append(lambda v: not isinstance(v, str) or all(t(v) for t in strings))
    numbers: list[Check] = []
    if "minimum" in schema:
        minimum = schema["minimum"]
        numbers.append(lambda v: v >= minimum)
    if "maximum" in schema:
        maximum = schema["maximum"]
        numbers.append(lambda v: v <= maximum)
    if "exclusiveMinimum" in schema:
        above = schema["exclusiveMinimum"]
        numbers.append(lambda v: v > above)
    if "exclusiveMaximum" in schema:
        below = schema["exclusiveMaximum"]
        numbers.append(lambda v: v < below)
    if numbers:
        tests.append(
            lambda v: not (isinstance(v, int | float) and not isinstance(v, bool)) or all(t(v) for t in numbers)
        )
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        tests.append(_object_test(schema))
    return lambda v: all(t(v) for t in tests)


def _object_test(schema: Mapping[str, Any]) -> Check:
    props = {name: _compile(sub) for name, sub in schema.get("properties", {}).items()}
    required = tuple(schema.get("required", ()))
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        raise Unsupported("additionalProperties schema")
    closed = extra is False

    def test(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for name in required:
            if name not in v:
                return False
        for name, value in v.items():
            check = props.get(name)
            if check is None:
                if closed:
                    return False
            elif not check(value):
                return False
        return True

    return test


def compile_check(schema: Mapping[str, Any]) -> Check | None:
    """A predicate equivalent to ``Draft202012Validator(schema).is_valid``, or None when the schema
    uses anything outside the covered subset."""
    try:
        return _compile(schema)
    except Unsupported:
        return None
