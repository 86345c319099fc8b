"""The score-assertion schema check on recognition's and eligibility's hot path (issue 12).

``assertion_schema_errors`` walks the claims with a jsonschema validator: under a profile of
recognition that was over a third of the request's own time. Valid claims — nearly every request —
are now answered by the compiled predicate the catalogue uses for ingestion
(:mod:`gateway.catalogue.fastcheck`), after the schema's local ``$ref``s are inlined and its
annotation-only keywords dropped; only claims it refuses go to jsonschema, which stays the
authority and writes the error list. ``tests/test_assertion_schema_fast.py`` checks on valid and
broken claims that both always agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from gateway.catalogue.fastcheck import Check, compile_check
from gateway.config import bundled_path
from gateway.exchange.assertion import assertion_schema_errors

__all__ = ["claims_errors", "inline_schema"]

# Draft202012Validator without a format checker treats "format" as an annotation: so does this.
_ANNOTATIONS = frozenset({"format", "description", "title", "examples", "$comment"})


class _Unsupported(Exception):
    pass


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    if ref is not None:
        name = str(ref).removeprefix("#/$defs/")
        if name == ref or name not in defs:
            raise _Unsupported(ref)
        out.update(_inline(defs[name], defs))
    for key, value in node.items():
        if key in ("$ref", "$defs") or key in _ANNOTATIONS:
            continue
        if key in out:
            raise _Unsupported(key)  # a keyword beside $ref that the target also has: not inlined
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        elif key == "const" and isinstance(value, int) and not isinstance(value, bool) and len(node) == 1:
            # Equal to a number, as JSON Schema compares (1000 == 1000.0, never true or a string).
            out.update({"type": "number", "minimum": value, "maximum": value})
        else:
            out[key] = _inline(value, defs)
    return out


def inline_schema(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """``schema`` with its ``#/$defs/…`` references inlined and annotations dropped; ``None`` when
    it uses something this does not cover."""
    try:
        inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    except _Unsupported:
        return None
    return inlined


@cache
def _fast() -> Check | None:
    schema = json.loads((bundled_path("schemas") / "score-assertion.schema.json").read_text(encoding="utf-8"))
    inlined = inline_schema(schema)
    return compile_check(inlined) if inlined is not None else None


def claims_errors(claims: Mapping[str, Any]) -> list[str]:
    """As :func:`assertion_schema_errors`: where the claims break the schema, ``[]`` when they fit."""
    fast = _fast()
    if fast is not None and fast(claims):
        return []
    return assertion_schema_errors(claims)
