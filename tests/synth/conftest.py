"""One synthetic population shared by the synth tests, plus the catalogue's validators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from gateway.scoring.resident_id import parse_resident_id
from gateway.synth import SynthManifest, generate

AS_OF = date(2026, 3, 31)
SEED = 20260331
RESIDENTS = 5000
CATALOGUE = Path(__file__).resolve().parents[2] / "gateway" / "catalogue" / "sx-catalogue-2026.1.json"


@dataclass(frozen=True)
class Population:
    out_dir: Path
    manifest: SynthManifest
    records: dict[str, list[dict[str, Any]]]  # unit id -> parsed records, file order
    lines: dict[str, list[str]]  # unit id -> raw lines
    residents: list[tuple[str, str]]  # (id_number, name) from residents.csv
    ages: dict[str, int]  # id_number -> completed years on AS_OF

    def all_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for unit, records in self.records.items():
            for record in records:
                yield unit, record

    def adults(self) -> set[str]:
        return {i for i, age in self.ages.items() if age >= 18}

    def people_with(self, item: str, **attrs: Any) -> set[str]:
        return {
            r["subject"]["id_number"]
            for _, r in self.all_records()
            if r["item"] == item and all(r["attributes"].get(k) == v for k, v in attrs.items())
        }


def read_population(out_dir: Path, manifest: SynthManifest) -> Population:
    records: dict[str, list[dict[str, Any]]] = {}
    lines: dict[str, list[str]] = {}
    for entry in manifest.files:
        raw = (out_dir / entry.path).read_text(encoding="utf-8").splitlines(keepends=True)
        lines[entry.unit] = raw
        records[entry.unit] = [json.loads(line) for line in raw]
    rows = (out_dir / "residents.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "id_number,name"
    residents = [tuple(row.split(",")) for row in rows[1:]]
    pairs = [(p[0], p[1]) for p in residents]
    ages = {i: parse_resident_id(i, today=AS_OF).age_on(AS_OF) for i, _ in pairs}
    return Population(out_dir, manifest, records, lines, pairs, ages)


@pytest.fixture(scope="session")
def params() -> tuple[int, int, date]:
    """(residents, seed, as_of) of the shared population."""
    return RESIDENTS, SEED, AS_OF


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    out_dir = tmp_path_factory.mktemp("synth")
    manifest = generate(RESIDENTS, SEED, out_dir, AS_OF)
    return read_population(out_dir, manifest)


@pytest.fixture(scope="session")
def catalogue() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="session")
def validators(catalogue: dict[str, Any]) -> dict[str, Draft202012Validator]:
    checker = FormatChecker()
    out = {}
    for item in catalogue["items"]:
        Draft202012Validator.check_schema(item["attributes"])
        out[item["code"]] = Draft202012Validator(item["attributes"], format_checker=checker)
    return out


@pytest.fixture(scope="session")
def suppliers(catalogue: dict[str, Any]) -> dict[str, set[str]]:
    return {item["code"]: {s["kind"] for s in item["suppliers"]} for item in catalogue["items"]}
