"""Helpers for the scoring tests: building inputs, reading test vectors, patching model documents.

Imported as ``tests.scoring.scoring_helpers`` (the suite imports tests as namespace packages).

Vectors describe records in JSON; ``records_from`` turns them into :class:`RecordInput`. A record
gives either ``occurred_at`` (ISO date) or ``days_before`` (days before the case's ``as_of``), and
optionally ``until`` or ``until_days_after`` (relative to ``as_of``); ``status`` defaults to valid.
"""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from gateway.scoring import RecordInput, ScoringInputs

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "scoring"
CATALOGUE = ROOT / "gateway" / "catalogue" / "sx-catalogue-2026.1.json"
AS_OF = date(2026, 6, 30)
ADULT = date(1985, 5, 20)


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def record_from(spec: dict[str, Any], as_of: date) -> RecordInput:
    if "occurred_at" in spec:
        occurred = date.fromisoformat(spec["occurred_at"])
    else:
        occurred = as_of - timedelta(days=spec["days_before"])
    until = None
    if "until" in spec:
        until = date.fromisoformat(spec["until"])
    elif "until_days_after" in spec:
        until = as_of + timedelta(days=spec["until_days_after"])
    return RecordInput(
        ref=spec["ref"],
        item=spec["item"],
        status=spec.get("status", "valid"),
        occurred_at=occurred,
        number=spec.get("number"),
        code=spec.get("code"),
        until=until,
    )


def records_from(specs: list[dict[str, Any]], as_of: date) -> list[RecordInput]:
    return [record_from(spec, as_of) for spec in specs]


def eligible_base(as_of: date = AS_OF) -> list[RecordInput]:
    """Authorisation and household registration: the least a person needs to be scored."""
    return [
        RecordInput("auth-1", "scoring_authorisation", "valid", as_of - timedelta(days=100), code="granted"),
        RecordInput("res-1", "residency", "valid", as_of - timedelta(days=3000), code="household_registration"),
    ]


def person(*records: RecordInput, birth_date: date = ADULT, as_of: date = AS_OF) -> ScoringInputs:
    return ScoringInputs(birth_date=birth_date, records=[*eligible_base(as_of), *records])


def rec(
    ref: str,
    item: str,
    *,
    days_before: int = 10,
    number: float | None = None,
    code: str | None = None,
    status: str = "valid",
    until: date | None = None,
    as_of: date = AS_OF,
) -> RecordInput:
    return RecordInput(ref, item, status, as_of - timedelta(days=days_before), number, code, until)


def apply_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A small RFC 6902 subset (add, replace, remove) so invalid models are data, not code."""
    result = copy.deepcopy(document)
    for op in operations:
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in op["path"].split("/")[1:]]
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if op["op"] == "add":
                target.insert(index, op["value"])
            elif op["op"] == "replace":
                target[index] = op["value"]
            else:
                del target[index]
        elif op["op"] in ("add", "replace"):
            target[last] = op["value"]
        else:
            del target[last]
    return result
