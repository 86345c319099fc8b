"""The files the ingestion code reads: envelope, schemas, suppliers, references, manifest."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator

from gateway.synth import PLAN, UNITS, generate
from gateway.synth.generator import check_plan

if TYPE_CHECKING:
    from conftest import Population

AS_OF = date(2026, 3, 31)

EXPECTED_UNITS = {
    "zj-credit-platform": "provincial_credit_platform",
    "sx-public-security": "public_security",
    "sx-intermediate-court": "court",
    "sx-credit-center": "credit_office",
    "sx-market-regulation": "market_regulation",
    "sx-transport": "transport",
    "sx-water-utility": "utility",
    "sx-civil-affairs": "civil_affairs",
    "sx-charity-federation": "charity_federation",
    "sx-volunteer-federation": "volunteer_federation",
    "sx-self-report": "self_report_channel",
}
SOURCE_REF = re.compile(r"^[\x21-\x7e]{1,128}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def test_units_are_exactly_the_agreed_ones(population: Population) -> None:
    assert {unit: kind for unit, kind, _ in UNITS} == EXPECTED_UNITS
    assert [(f.unit, f.unit_kind, f.path) for f in population.manifest.files] == [
        (unit, kind, f"{unit}.ndjson") for unit, kind in EXPECTED_UNITS.items()
    ]
    assert sorted(p.name for p in population.out_dir.iterdir()) == sorted(
        [f"{unit}.ndjson" for unit in EXPECTED_UNITS] + ["manifest.json", "residents.csv"]
    )


def test_manifest_matches_files(population: Population, params: tuple[int, int, date]) -> None:
    residents, seed, as_of = params
    on_disk = json.loads((population.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == population.manifest.to_json()
    assert on_disk["generator"] == "gateway synth"
    assert (on_disk["seed"], on_disk["residents"], on_disk["as_of"]) == (seed, residents, as_of.isoformat())
    assert on_disk["catalogue_version"] == "2026.1"
    for entry in on_disk["files"]:
        assert entry["records"] == len(population.lines[entry["unit"]]) > 0
    assert on_disk["records"] == sum(len(lines) for lines in population.lines.values())
    assert len(population.residents) == residents


def test_every_line_is_canonical_json_with_the_agreed_envelope(population: Population) -> None:
    checked = 0
    for unit, raw_lines in population.lines.items():
        for raw, record in zip(raw_lines, population.records[unit], strict=True):
            # The format strings must produce exactly what json.dumps would: no escaping slip.
            assert raw == json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            assert list(record) == ["source_ref", "item", "subject", "occurred_at", "attributes"]
            assert list(record["subject"]) == ["id_number", "name"]
            assert SOURCE_REF.match(record["source_ref"])
            assert ISO_DATE.match(record["occurred_at"])
            checked += 1
    assert checked == population.manifest.records


def test_attributes_validate_against_the_catalogue(
    population: Population, validators: dict[str, Draft202012Validator]
) -> None:
    seen: Counter[str] = Counter()
    for unit, record in population.all_records():
        errors = list(validators[record["item"]].iter_errors(record["attributes"]))
        assert not errors, (unit, record["source_ref"], [e.message for e in errors])
        seen[record["item"]] += 1
    assert set(seen) == set(validators), "every catalogue item should appear at least once"


def test_the_validators_are_live(validators: dict[str, Draft202012Validator]) -> None:
    assert not validators["donation"].is_valid({"amount_yuan": 0})
    assert not validators["residency"].is_valid({"status": "residence_permit", "valid_until": "2026-02-30"})
    assert not validators["honour"].is_valid({"level": "county", "title": "x", "extra": 1})


def test_units_only_emit_items_granted_to_their_kind(population: Population, suppliers: dict[str, set[str]]) -> None:
    for unit, record in population.all_records():
        assert EXPECTED_UNITS[unit] in suppliers[record["item"]], (unit, record["item"])
        assert record["item"] in PLAN[unit]


def test_check_plan_refuses_a_catalogue_that_withdraws_a_grant(catalogue: dict[str, Any]) -> None:
    assert check_plan(catalogue) == "2026.1"
    narrowed = json.loads(json.dumps(catalogue))
    for item in narrowed["items"]:
        if item["code"] == "pledge_made":
            item["suppliers"] = [s for s in item["suppliers"] if s["kind"] != "transport"]
    with pytest.raises(ValueError, match="sx-transport"):
        check_plan(narrowed)


def test_source_refs_are_unique_per_unit(population: Population) -> None:
    for unit, records in population.records.items():
        refs = [r["source_ref"] for r in records]
        assert len(refs) == len(set(refs)), unit


def test_dates_are_not_after_as_of(population: Population, params: tuple[int, int, date]) -> None:
    last = params[2].isoformat()
    for _, record in population.all_records():
        date.fromisoformat(record["occurred_at"])
        assert record["occurred_at"] <= last
        assert record["attributes"].get("period_end", last) <= last


def test_pledge_references_resolve_within_the_unit(population: Population) -> None:
    kept = breaches = 0
    for records in population.records.values():
        pledges = {r["source_ref"]: r for r in records if r["item"] == "pledge_made"}
        for record in records:
            ref = record["attributes"].get("pledge_ref")
            if ref is None:
                continue
            pledge = pledges[ref]
            assert pledge["subject"] == record["subject"]
            assert pledge["occurred_at"] <= record["occurred_at"]
            kept += record["item"] == "pledge_kept"
            breaches += record["item"] == "pledge_breach"
    assert kept > 0 and breaches > 0


def test_subjects_are_the_listed_residents(population: Population) -> None:
    roster = dict(population.residents)
    residency: Counter[str] = Counter()
    for _, record in population.all_records():
        subject = record["subject"]
        assert roster[subject["id_number"]] == subject["name"]
        if record["item"] == "residency":
            residency[subject["id_number"]] += 1
    assert set(residency) == set(roster) and set(residency.values()) == {1}


def test_zero_residents_writes_empty_files(tmp_path: Path) -> None:
    manifest = generate(0, 1, tmp_path, AS_OF)
    assert manifest.records == 0 and all(f.records == 0 for f in manifest.files)
    assert (tmp_path / "residents.csv").read_text(encoding="utf-8") == "id_number,name\n"
    assert (tmp_path / "sx-transport.ndjson").read_bytes() == b""


def test_negative_residents_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        generate(-1, 1, tmp_path, AS_OF)
