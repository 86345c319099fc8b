"""compute() rules on small purpose-built models: each indicator kind, weights, caps, family bounds,
clamping, ageing, statuses, as_of and determinism."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest

from gateway.scoring import (
    COUNTING_STATUSES,
    RecordInput,
    RecordStatus,
    ScoreResult,
    ScoringInputs,
    ScoringModel,
    compute,
    load_model,
)
from tests.scoring.scoring_helpers import AS_OF, person, rec

TIERS = [
    {"code": "LOW", "label": {"zh": "低", "en": "Low"}, "min": 0, "max": 499},
    {"code": "HIGH", "label": {"zh": "高", "en": "High"}, "min": 500, "max": 1000},
]


def indicator(code: str, item: str, kind: str, cap: float, family: str = "other", **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "family": family,
        "label": {"zh": code, "en": code},
        "item": item,
        "kind": kind,
        "cap": cap,
        **extra,
    }


def model(*indicators: dict[str, Any], **families: dict[str, Any]) -> ScoringModel:
    family_specs = {name: {"label": {"zh": name, "en": name}} for name in ("basic", "commitment", "other")}
    for name, bounds in families.items():
        family_specs[name].update(bounds)
    return load_model(
        {
            "model": "test-model",
            "version": "2026.9",
            "effective_from": "2026-01-01",
            "max_score": 1000,
            "notice": "Test model.",
            "families": family_specs,
            "indicators": list(indicators),
            "tiers": TIERS,
        }
    )


def points(result: ScoreResult, code: str) -> float:
    return next(r.points for r in result.breakdown if r.code == code)


SCALE = [[0, 0], [100, 100], [200, 300]]
SCALED = model(indicator("sc", "provincial_evaluation", "scaled", 1000, family="basic", scale=SCALE))


@pytest.mark.parametrize(
    ("number", "expected"),
    [(-50, 0), (0, 0), (50, 50), (100, 100), (150, 200), (175, 250), (200, 300), (10_000, 300)],
)
def test_scaled_interpolates_and_clamps_at_both_ends(number: float, expected: float) -> None:
    result = compute(person(rec("p", "provincial_evaluation", number=number)), SCALED, AS_OF)
    assert points(result, "sc") == expected
    assert result.score == expected


def test_scaled_starting_above_zero_gives_its_first_points_below_the_scale() -> None:
    lifted = model(indicator("sc", "provincial_evaluation", "scaled", 1000, scale=[[300, 100], [800, 600]]))
    assert compute(person(rec("p", "provincial_evaluation", number=10)), lifted, AS_OF).score == 100


def test_scaled_uses_the_latest_record_with_a_number_and_applies_weight() -> None:
    weighted = model(indicator("sc", "provincial_evaluation", "scaled", 1000, weight=2, scale=SCALE))
    result = compute(
        person(
            rec("old", "provincial_evaluation", days_before=50, number=200),
            rec("new", "provincial_evaluation", days_before=5, number=50),
            rec("newest-without-number", "provincial_evaluation", days_before=1),
        ),
        weighted,
        AS_OF,
    )
    entry = result.breakdown[0]
    assert (entry.points, entry.uncapped_points, entry.records) == (100, 100, ("new",))


def test_scaled_respects_max_age_and_where_code() -> None:
    ageing = model(
        indicator("sc", "provincial_evaluation", "scaled", 1000, scale=SCALE, max_age_days=30, where_code="current")
    )
    stale = rec("stale", "provincial_evaluation", days_before=31, number=200, code="current")
    other_edition = rec("other", "provincial_evaluation", days_before=1, number=200, code="draft")
    assert compute(person(stale, other_edition), ageing, AS_OF).score == 0
    fresh = rec("fresh", "provincial_evaluation", days_before=30, number=100, code="current")
    assert compute(person(stale, other_edition, fresh), ageing, AS_OF).score == 100


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), None])
def test_records_without_a_finite_number_do_not_count(bad: float | None) -> None:
    amounts = model(
        indicator("sc", "provincial_evaluation", "scaled", 1000, family="basic", scale=SCALE),
        indicator("vol", "volunteer_service", "per_amount", 60, points=1, per=1),
    )
    inputs = person(
        rec("p-ok", "provincial_evaluation", days_before=20, number=100),
        rec("p-bad", "provincial_evaluation", days_before=1, number=bad),
        rec("v-ok", "volunteer_service", number=3),
        rec("v-bad", "volunteer_service", number=bad),
    )
    result = compute(inputs, amounts, AS_OF)
    assert [r.records for r in result.breakdown] == [("p-ok",), ("v-ok",)]
    assert result.score == 103


def test_per_record_points_weight_and_cap() -> None:
    m = model(indicator("kept", "pledge_kept", "per_record", 50, points=10, weight=2))
    two = compute(person(rec("a", "pledge_kept"), rec("b", "pledge_kept")), m, AS_OF)
    assert (points(two, "kept"), two.breakdown[0].capped) == (40, False)
    three = compute(person(*(rec(f"k{i}", "pledge_kept") for i in range(3))), m, AS_OF)
    entry = three.breakdown[0]
    assert (entry.points, entry.uncapped_points, entry.capped) == (50, 60, True)


def test_per_record_by_code_counts_only_listed_codes() -> None:
    m = model(indicator("hon", "honour", "per_record", 100, points_by_code={"gold": 30, "silver": 12.5}))
    result = compute(
        person(rec("g", "honour", code="gold"), rec("s", "honour", code="silver"), rec("x", "honour", code="tin")),
        m,
        AS_OF,
    )
    assert (points(result, "hon"), result.breakdown[0].records) == (42.5, ("g", "s"))
    assert result.score == 43  # 42.5 rounds half up


def test_penalty_cap_limits_the_deduction() -> None:
    m = model(
        indicator("base", "provincial_evaluation", "scaled", 1000, family="basic", scale=[[0, 0], [1000, 1000]]),
        indicator("br", "pledge_breach", "per_record", 100, family="commitment", points=-60, max_age_days=365),
    )
    inputs = person(
        rec("p", "provincial_evaluation", number=800), rec("b1", "pledge_breach"), rec("b2", "pledge_breach")
    )
    result = compute(inputs, m, AS_OF)
    entry = result.breakdown[1]
    assert (entry.points, entry.uncapped_points, entry.capped) == (-100, -120, True)
    assert result.score == 700


def test_per_amount_is_proportional_and_fractional() -> None:
    m = model(indicator("vol", "volunteer_service", "per_amount", 60, points=1, per=3))
    result = compute(person(rec("a", "volunteer_service", number=2), rec("b", "volunteer_service", number=2)), m, AS_OF)
    assert points(result, "vol") == 1.33
    assert result.families[2].points == 1.33
    assert result.score == 1


def test_per_amount_weight_applies_before_cap() -> None:
    m = model(indicator("don", "donation", "per_amount", 50, points=5, per=1000, weight=3))
    inputs = person(rec("a", "donation", number=3000))
    entry = compute(inputs, m, AS_OF).breakdown[0]
    assert (entry.points, entry.uncapped_points, entry.capped) == (45, 45, False)
    entry = compute(person(rec("a", "donation", number=4000)), m, AS_OF).breakdown[0]
    assert (entry.points, entry.uncapped_points, entry.capped) == (50, 60, True)


def test_family_bounds_apply_after_indicator_caps() -> None:
    m = model(
        indicator("aa", "honour", "per_record", 100, points=40, max_age_days=1000),
        indicator("don", "donation", "per_amount", 100, points=1, per=10),
        indicator("cc", "pledge_breach", "per_record", 500, family="commitment", points=-300, max_age_days=365),
        other={"max_points": 90},
        commitment={"min_points": -250},
    )
    inputs = person(
        rec("h1", "honour"), rec("h2", "honour"), rec("d", "donation", number=500), rec("x", "pledge_breach")
    )
    result = compute(inputs, m, AS_OF)
    families = {f.code: (f.points, f.uncapped_points, f.capped) for f in result.families}
    assert families == {"basic": (0, 0, False), "commitment": (-250, -300, True), "other": (90, 130, True)}
    assert [r.points for r in result.breakdown] == [80, 50, -300]
    assert result.score == 0


def test_family_floor_above_zero_applies_without_records() -> None:
    m = model(indicator("aa", "honour", "per_record", 100, points=40), other={"min_points": 25})
    result = compute(person(), m, AS_OF)
    assert (result.families[2].points, result.families[2].capped, result.score) == (25, True, 25)


def test_score_is_clamped_to_1000() -> None:
    m = model(
        indicator("sc", "provincial_evaluation", "scaled", 1000, family="basic", scale=[[0, 0], [1000, 1000]]),
        indicator("hon", "honour", "per_record", 300, points=300),
    )
    result = compute(person(rec("p", "provincial_evaluation", number=900), rec("h", "honour")), m, AS_OF)
    assert sum(f.points for f in result.families) == 1200
    assert result.score == 1000
    assert result.tier is not None and result.tier.code == "HIGH"


def test_score_is_clamped_to_0() -> None:
    m = model(indicator("br", "pledge_breach", "per_record", 500, family="commitment", points=-80, max_age_days=10))
    result = compute(person(rec("b", "pledge_breach", days_before=10)), m, AS_OF)
    assert (result.families[1].points, result.score) == (-80, 0)
    assert result.tier is not None and result.tier.code == "LOW"


AGEING = model(
    indicator("sc", "provincial_evaluation", "scaled", 1000, family="basic", scale=[[0, 0], [1000, 1000]]),
    indicator("br", "pledge_breach", "per_record", 500, family="commitment", points=-80, max_age_days=100),
)


@pytest.mark.parametrize(("age", "counts"), [(0, True), (99, True), (100, True), (101, False), (400, False)])
def test_max_age_is_inclusive(age: int, counts: bool) -> None:
    inputs = person(rec("p", "provincial_evaluation", number=700), rec("b", "pledge_breach", days_before=age))
    result = compute(inputs, AGEING, AS_OF)
    assert result.score == (620 if counts else 700)
    assert result.breakdown[1].records == (("b",) if counts else ())


@pytest.mark.parametrize("status", list(RecordStatus))
def test_only_counting_statuses_score(status: RecordStatus) -> None:
    m = model(indicator("kp", "pledge_kept", "per_record", 100, points=15))
    result = compute(person(rec("k", "pledge_kept", status=status.value)), m, AS_OF)
    counts = status in COUNTING_STATUSES
    assert result.score == (15 if counts else 0)
    assert counts == (status is RecordStatus.VALID)


def test_unknown_status_does_not_count() -> None:
    m = model(indicator("kp", "pledge_kept", "per_record", 100, points=15))
    assert compute(person(rec("k", "pledge_kept", status="VALID ")), m, AS_OF).score == 0


def test_records_after_as_of_are_ignored_and_on_as_of_count() -> None:
    m = model(indicator("kp", "pledge_kept", "per_record", 100, points=15))
    tomorrow = rec("t", "pledge_kept", days_before=-1)
    today = rec("d", "pledge_kept", days_before=0)
    result = compute(person(tomorrow, today), m, AS_OF)
    assert (result.score, result.breakdown[0].records) == (15, ("d",))
    later = compute(person(tomorrow, today), m, AS_OF + timedelta(days=1))
    assert later.score == 30


DEFAULT_MIX = [
    rec("p-2", "provincial_evaluation", days_before=40, number=831),
    rec("p-1", "provincial_evaluation", days_before=400, number=790),
    rec("p-3", "provincial_evaluation", days_before=40, number=812, status="corrected"),
    *(rec(f"v-{i:02d}", "volunteer_service", days_before=10 * i, number=0.1 * i + 0.3) for i in range(1, 12)),
    *(rec(f"d-{i}", "donation", days_before=30 * i, number=123.45 * i) for i in range(1, 6)),
    rec("pm-1", "pledge_made", days_before=200, code="law_abiding"),
    rec("pm-2", "pledge_made", days_before=100, code="contract_keeping"),
    rec("pk-1", "pledge_kept", days_before=20),
    rec("b-1", "pledge_breach", days_before=100, code="minor"),
    rec("b-2", "pledge_breach", days_before=2000, code="grave"),
    rec("h-1", "honour", days_before=300, code="county"),
    rec("h-2", "honour", days_before=300, code="municipal", status="pending"),
]


def test_same_inputs_in_any_order_give_identical_results(default_model: ScoringModel) -> None:
    reference = compute(person(*DEFAULT_MIX), default_model, AS_OF)
    assert reference.eligible and reference.score is not None
    shuffler = random.Random(20260630)
    for _ in range(50):
        records = list(person(*DEFAULT_MIX).records)
        shuffler.shuffle(records)
        assert compute(ScoringInputs(person().birth_date, records), default_model, AS_OF) == reference
        assert compute(ScoringInputs(person().birth_date, tuple(records)), default_model, AS_OF) == reference


def test_breakdown_lists_every_indicator_in_model_order_with_sorted_refs(default_model: ScoringModel) -> None:
    result = compute(person(*reversed(DEFAULT_MIX)), default_model, AS_OF)
    assert [r.code for r in result.breakdown] == [i.code for i in default_model.indicators]
    assert [r.family for r in result.breakdown] == [i.family for i in default_model.indicators]
    by_code = {r.code: r for r in result.breakdown}
    assert by_code["volunteer_service"].records == tuple(f"v-{i:02d}" for i in range(1, 12))
    assert by_code["pledge_made"].records == ("pm-1", "pm-2")
    assert by_code["breach_grave"].records == () and by_code["breach_grave"].points == 0
    assert by_code["honours"].records == ("h-1",)
    assert by_code["provincial_evaluation"].records == ("p-2",)


def test_breakdown_points_have_at_most_two_decimals(default_model: ScoringModel) -> None:
    result = compute(person(*DEFAULT_MIX), default_model, AS_OF)
    for entry in result.breakdown:
        assert round(entry.points, 2) == entry.points
        assert round(entry.uncapped_points, 2) == entry.uncapped_points
    for family in result.families:
        assert round(family.points, 2) == family.points


def test_score_equals_the_rounded_sum_of_family_points(default_model: ScoringModel) -> None:
    result = compute(person(*DEFAULT_MIX), default_model, AS_OF)
    total = sum(f.points for f in result.families)
    assert result.score == int(total + 0.5)
    assert total != int(total)  # the mix is chosen to need rounding


def test_birth_date_matters_only_for_eligibility(default_model: ScoringModel) -> None:
    older = compute(person(*DEFAULT_MIX, birth_date=date(1950, 1, 1)), default_model, AS_OF)
    younger = compute(person(*DEFAULT_MIX, birth_date=date(2000, 1, 1)), default_model, AS_OF)
    assert older == younger


def test_inputs_are_not_modified(default_model: ScoringModel) -> None:
    records = person(*DEFAULT_MIX).records
    snapshot = list(records)
    compute(ScoringInputs(date(1985, 5, 20), records), default_model, AS_OF)
    assert list(records) == snapshot
    assert all(isinstance(r, RecordInput) for r in records)
