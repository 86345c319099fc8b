"""Eligibility (measure 一(一)) against tests/vectors/scoring/eligibility.json, through both
check_eligibility and compute."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from gateway.scoring import Ineligibility, ScoringInputs, ScoringModel, check_eligibility, compute
from tests.scoring.scoring_helpers import load_vectors, records_from

VECTORS = load_vectors("eligibility.json")


def _inputs(case: dict[str, Any]) -> tuple[ScoringInputs, date]:
    as_of = date.fromisoformat(case.get("as_of", VECTORS["as_of"]))
    return ScoringInputs(date.fromisoformat(case["birth_date"]), records_from(case["records"], as_of)), as_of


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_check_eligibility(case: dict[str, Any]) -> None:
    inputs, as_of = _inputs(case)
    assert check_eligibility(inputs, as_of) == case["reason"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_compute_applies_eligibility(default_model: ScoringModel, case: dict[str, Any]) -> None:
    inputs, as_of = _inputs(case)
    result = compute(inputs, default_model, as_of)
    if case["reason"] is None:
        assert result.eligible and result.reason is None
        assert result.score is not None and result.tier is not None
    else:
        assert not result.eligible
        assert result.reason == case["reason"]
        assert (result.score, result.tier, result.breakdown, result.families) == (None, None, (), ())
        assert result.model_version == default_model.version and result.as_of == as_of


def test_every_reason_is_covered_by_a_vector() -> None:
    covered = {case["reason"] for case in VECTORS["cases"]}
    assert covered == {reason.value for reason in Ineligibility} | {None}


def test_ineligible_person_with_scoring_records_still_gets_no_breakdown(default_model: ScoringModel) -> None:
    as_of = date.fromisoformat(VECTORS["as_of"])
    records = records_from(
        [
            {"ref": "res-1", "item": "residency", "days_before": 300, "code": "household_registration"},
            {"ref": "p-1", "item": "provincial_evaluation", "days_before": 30, "number": 850},
        ],
        as_of,
    )
    result = compute(ScoringInputs(date(1980, 1, 1), records), default_model, as_of)
    assert result.reason == Ineligibility.NO_AUTHORISATION
    assert result.breakdown == () and result.score is None
