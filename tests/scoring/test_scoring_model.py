"""Loading and validating scoring models: every invalid document in
tests/vectors/scoring/invalid_models.json is refused, and a loaded model is immutable."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import InvalidScoringModel
from gateway.scoring import (
    DEFAULT_MODEL_PATH,
    ScoringModel,
    load_default_model,
    load_model,
    validate_model_document,
)
from tests.scoring.scoring_helpers import apply_patch, load_vectors

INVALID = load_vectors("invalid_models.json")


@pytest.mark.parametrize("case", INVALID["cases"], ids=lambda c: c["name"])
def test_invalid_models_are_rejected(
    case: dict[str, Any], default_document: dict[str, Any], catalogue_items: frozenset[str]
) -> None:
    document = apply_patch(default_document, case["patch"])
    known = catalogue_items if case.get("known_items") else None
    with pytest.raises(InvalidScoringModel) as caught:
        load_model(document, known_items=known)
    for fragment in case["message"]:
        assert fragment in caught.value.detail
    with pytest.raises(InvalidScoringModel):
        validate_model_document(document, known_items=known)


@pytest.mark.parametrize("case", INVALID["cases"], ids=lambda c: c["name"])
def test_each_patch_actually_changes_the_document(case: dict[str, Any], default_document: dict[str, Any]) -> None:
    # Without this, a patch path that silently missed would make its case pass for the wrong reason.
    assert apply_patch(default_document, case["patch"]) != default_document


def test_unknown_items_pass_without_known_items(default_document: dict[str, Any]) -> None:
    document = apply_patch(default_document, [{"op": "replace", "path": "/indicators/7/item", "value": "lottery_win"}])
    model = load_model(document)
    assert model.indicators[7].item == "lottery_win"


def test_tiers_may_be_listed_in_any_order(default_document: dict[str, Any], default_model: ScoringModel) -> None:
    default_document["tiers"].reverse()
    model = load_model(default_document)
    for score in (0, 549, 550, 649, 650, 749, 750, 849, 850, 1000):
        assert model.tier_for(score) == default_model.tier_for(score)


@pytest.mark.parametrize("score", [-1, 1001])
def test_tier_lookup_outside_the_scale_is_an_error(default_model: ScoringModel, score: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        default_model.tier_for(score)


def test_path_and_mapping_give_the_same_model(default_document: dict[str, Any]) -> None:
    from_path = load_model(DEFAULT_MODEL_PATH)
    from_mapping = load_model(default_document)
    assert from_path.digest == from_mapping.digest
    assert from_path.indicators == from_mapping.indicators
    assert from_path.tiers == from_mapping.tiers
    assert from_path.effective_from == date(2026, 1, 1)


def test_digest_changes_with_any_number(default_document: dict[str, Any], default_model: ScoringModel) -> None:
    changed = apply_patch(default_document, [{"op": "replace", "path": "/indicators/1/points", "value": 11}])
    assert load_model(changed).digest != default_model.digest
    assert len(default_model.digest) == 64


def test_document_returns_a_fresh_copy(default_model: ScoringModel, default_document: dict[str, Any]) -> None:
    copy = default_model.document()
    assert copy == default_document
    copy["indicators"].clear()
    assert default_model.document() == default_document


def test_model_is_immutable(default_model: ScoringModel) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_model.version = "2099.1"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_model.indicators[0].cap = 1.0  # type: ignore[misc]
    assert isinstance(default_model.indicators, tuple) and isinstance(default_model.tiers, tuple)


def test_weight_defaults_to_one(default_model: ScoringModel) -> None:
    assert {indicator.weight for indicator in default_model.indicators} == {1.0}


def test_load_default_model_checks_known_items() -> None:
    with pytest.raises(InvalidScoringModel, match="provincial_evaluation"):
        load_default_model(known_items={"pledge_made"})


def test_unreadable_file_names_only_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.json"
    with pytest.raises(InvalidScoringModel) as caught:
        load_model(missing)
    assert "'model.json'" in caught.value.detail
    assert str(tmp_path) not in caught.value.detail


def test_malformed_json_reports_the_position(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text('{\n  "model": "x",\n  oops\n}', encoding="utf-8")
    with pytest.raises(InvalidScoringModel, match=r"line 3, column 3"):
        load_model(path)


def test_duplicate_members_are_rejected(tmp_path: Path) -> None:
    text = DEFAULT_MODEL_PATH.read_text(encoding="utf-8").replace('"cap": 30\n', '"cap": 30, "cap": 3000\n')
    assert text.count('"cap": 3000') == 1
    path = tmp_path / "model.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidScoringModel, match="repeats the member 'cap'"):
        load_model(path)


def test_non_finite_numbers_are_rejected(tmp_path: Path) -> None:
    text = DEFAULT_MODEL_PATH.read_text(encoding="utf-8").replace('"cap": 30\n', '"cap": Infinity\n')
    assert "Infinity" in text
    path = tmp_path / "model.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidScoringModel, match="Infinity"):
        load_model(path)


@pytest.mark.parametrize("value", [date(2026, 1, 1), float("nan"), {1, 2}])
def test_mappings_with_non_json_values_are_rejected(default_document: dict[str, Any], value: object) -> None:
    default_document["effective_from"] = value
    with pytest.raises(InvalidScoringModel):
        load_model(default_document)


@pytest.mark.parametrize("document", [[], "model", None, 1000])
def test_documents_that_are_not_objects_are_rejected(document: object) -> None:
    with pytest.raises(InvalidScoringModel, match="type"):
        validate_model_document(document)
