"""The shipped default model: it validates, says honestly what it is, and scores the hand-worked
cases in tests/vectors/scoring/default_model.json."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway.scoring import (
    DEFAULT_MODEL_PATH,
    SCHEMA_PATH,
    ScoringInputs,
    ScoringModel,
    compute,
    validate_model_document,
)
from tests.scoring.scoring_helpers import load_vectors, records_from

VECTORS = load_vectors("default_model.json")
AS_OF = date.fromisoformat(VECTORS["as_of"])


def test_schema_is_a_valid_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://score-gateway.shaoxing.example/schemas/scoring-model.schema.json"


def test_default_model_validates_against_the_schema_file_directly() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    document = json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert [error.message for error in validator.iter_errors(document)] == []


def test_default_model_passes_the_semantic_check_with_catalogue_items(
    default_document: dict[str, Any], catalogue_items: frozenset[str]
) -> None:
    validate_model_document(default_document, known_items=catalogue_items)


def test_default_model_reads_every_catalogue_indicator_item(
    default_model: ScoringModel, catalogue_items: frozenset[str]
) -> None:
    assert {indicator.item for indicator in default_model.indicators} == catalogue_items


def test_default_model_identity(default_model: ScoringModel) -> None:
    assert default_model.model_id == "sx-integrity-default"
    assert default_model.version == "2026.1"
    assert default_model.max_score == 1000
    assert [family.code for family in default_model.families] == ["basic", "commitment", "other"]
    assert [tier.code for tier in default_model.tiers] == ["A", "B", "C", "D", "E"]


def test_notice_is_honest_about_the_numbers(default_model: ScoringModel) -> None:
    notice = default_model.notice
    for phrase in (
        "NOT official Shaoxing figures",
        "公共信用工作机构",
        "三(一)",
        "middle tiers",
        "provincial",
    ):
        assert phrase in notice


def test_provincial_evaluation_carries_most_weight(default_model: ScoringModel) -> None:
    provincial = next(i for i in default_model.indicators if i.item == "provincial_evaluation")
    others = sum(i.cap for i in default_model.indicators if i is not provincial and i.family != "commitment")
    commitment_rewards = 30 + 60  # pledges made and kept; the other commitment indicators deduct
    assert provincial.cap > (others + commitment_rewards)
    assert provincial.cap / default_model.max_score >= 0.7


def test_every_deducting_indicator_ages(default_model: ScoringModel) -> None:
    breaches = [i for i in default_model.indicators if i.item == "pledge_breach"]
    assert {(i.where_code, i.max_age_days) for i in breaches} == {
        ("minor", 365),
        ("serious", 1095),
        ("grave", 1825),
    }


@pytest.mark.parametrize(("score", "tier"), VECTORS["tier_lookup"], ids=lambda v: str(v))
def test_tier_lookup_on_both_sides_of_every_boundary(default_model: ScoringModel, score: int, tier: str) -> None:
    assert default_model.tier_for(score).code == tier


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_default_model_vectors(default_model: ScoringModel, case: dict[str, Any]) -> None:
    as_of = date.fromisoformat(case.get("as_of", VECTORS["as_of"]))
    records = records_from([*VECTORS["base_records"], *case["records"]], as_of)
    result = compute(ScoringInputs(date.fromisoformat(VECTORS["birth_date"]), records), default_model, as_of)

    assert result.eligible and result.reason is None
    assert result.score == case["score"]
    assert result.tier is not None and result.tier.code == case["tier"]
    assert result.model_version == "2026.1"
    assert result.as_of == as_of
    assert {r.code: r.points for r in result.breakdown} == {
        i.code: float(case["breakdown"].get(i.code, 0)) for i in default_model.indicators
    }
    assert {r.code for r in result.breakdown if r.capped} == set(case.get("capped", []))
    assert {f.code: f.points for f in result.families} == {
        f: float(case["families"].get(f, 0)) for f in ("basic", "commitment", "other")
    }
    assert {f.code for f in result.families if f.capped} == set(case.get("families_capped", []))
    for code, refs in case.get("refs", {}).items():
        assert next(r for r in result.breakdown if r.code == code).records == tuple(refs)
