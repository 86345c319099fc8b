"""GB 11643-1999 ID numbers, against the vectors in tests/vectors/scoring/resident_ids.json."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from gateway.errors import InvalidResidentId
from gateway.scoring import parse_resident_id
from gateway.scoring.resident_id import age_on, check_character
from tests.scoring.scoring_helpers import load_vectors

VECTORS = load_vectors("resident_ids.json")
TODAY = date.fromisoformat(VECTORS["today"])


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_numbers_parse_and_normalise(case: dict[str, Any]) -> None:
    parsed = parse_resident_id(case["id"], today=TODAY)
    assert parsed.normalised == case["normalised"]
    assert parsed.birth_date == date.fromisoformat(case["birth_date"])
    assert parsed.division_code == case["division_code"]


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_vectors_carry_their_own_check_character(case: dict[str, Any]) -> None:
    # Guards the data file: a hand-edited vector with a stale check character would fail here.
    normalised = case["normalised"]
    assert check_character(normalised[:17]) == normalised[17]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_numbers_are_rejected_with_reason(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id(case["id"], today=TODAY)
    assert caught.value.reason == case["reason"]
    assert caught.value.extensions == {"reason": case["reason"]}


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_rejection_never_echoes_the_number(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id(case["id"], today=TODAY)
    if case["id"].strip():
        assert case["id"].strip() not in caught.value.detail
        assert case["id"].strip() not in str(caught.value)


def test_standard_example_check_character() -> None:
    assert check_character("11010519491231002") == "X"


def test_lower_case_x_normalises_to_upper_case() -> None:
    lower = next(c for c in VECTORS["valid"] if c["id"].endswith("x"))
    parsed = parse_resident_id(lower["id"], today=TODAY)
    assert parsed.normalised.endswith("X")
    assert parsed.normalised == lower["id"].upper()


@pytest.mark.parametrize("value", [None, 330602199001011231, b"330602199001011231"])
def test_non_string_input_is_a_format_error(value: object) -> None:
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id(value, today=TODAY)  # type: ignore[arg-type]
    assert caught.value.reason == "format"


def test_birth_date_today_is_accepted_and_tomorrow_is_not() -> None:
    body_today = f"330602{TODAY:%Y%m%d}123"
    body_tomorrow = f"330602{TODAY + timedelta(days=1):%Y%m%d}123"
    assert parse_resident_id(body_today + check_character(body_today), today=TODAY).birth_date == TODAY
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id(body_tomorrow + check_character(body_tomorrow), today=TODAY)
    assert caught.value.reason == "birth_date"


def test_repr_and_str_hide_the_number() -> None:
    case = VECTORS["valid"][1]
    parsed = parse_resident_id(case["id"], today=TODAY)
    assert case["id"] not in repr(parsed)
    assert case["id"] not in str(parsed)
    assert case["birth_date"].replace("-", "") not in repr(parsed)


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2008, 6, 30), date(2026, 6, 30), 18),
        (date(2008, 6, 30), date(2026, 6, 29), 17),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(1990, 12, 31), date(2026, 1, 1), 35),
    ],
)
def test_age_on_counts_completed_years(born: date, day: date, age: int) -> None:
    assert age_on(born, day) == age
