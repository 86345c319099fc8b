"""Eligibility rules of the shipped example programmes at both sides of every threshold, on the
programme's own scheme and through partner cities' tiers (Hangzhou, Wenzhou) translated via yrd-common/1."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from gateway.config import PROJECT_ROOT
from gateway.exchange.tiers import UNRATED, load_mappings
from gateway.partners import PartnerRegistry
from gateway.services.recognition.programmes import Programme, evaluate, load_programmes
from gateway.services.recognition.recognition import TierRef, level_on, translate

MAPPINGS = load_mappings(PROJECT_ROOT / "mappings")
PROGRAMMES = load_programmes(
    PROJECT_ROOT / "partners" / "programmes",
    schemes=MAPPINGS.schemes,
    partners=PartnerRegistry(PROJECT_ROOT / "partners"),
)
DAY = date(2026, 6, 1)


def _benefit(programme: Programme, level: str) -> Any:
    """The distinguishing value of the benefit granted at ``level``, or None when not eligible."""
    common = MAPPINGS.crosswalks["sx-integrity/2026.1"].to_common_by_tier.get(level, level)
    outcome = evaluate(programme, level, common, on=DAY)
    if outcome.grant is None:
        assert not outcome.eligible and outcome.reasons[0]["code"] == "below_threshold"
        return None
    assert outcome.eligible and outcome.reasons[0]["code"] == "threshold_met"
    benefit = outcome.grant.benefit
    if benefit["kind"] == "deposit_waiver":
        return "waived"
    field = {"loan_rate_discount": "basis_points", "scenic_ticket": "price", "medical_pay_later": "credit_line_cny"}
    return benefit[field[benefit["kind"]]]


# Every level of each programme's scheme, lowest first: each threshold has a level just below it.
EXPECTED: dict[str, list[tuple[str, Any]]] = {
    "sx-example-bank-loan-rate-discount": [
        ("low", None),
        ("basic", None),
        ("fair", None),
        ("good", 10),
        ("outstanding", 15),
    ],
    "sx-example-bank-deposit-waiver": [
        ("low", None),
        ("basic", None),
        ("fair", None),
        ("good", "waived"),
        ("outstanding", "waived"),
    ],
    "sx-scenic-example-tickets": [
        ("low", None),
        ("basic", None),
        ("fair", None),
        ("good", "half"),
        ("outstanding", "free"),
    ],
    "sx-example-bank-medical-pay-later": [("E", None), ("D", None), ("C", 500), ("B", 1000), ("A", 1000)],
}


@pytest.mark.parametrize("programme_id", sorted(EXPECTED))
def test_both_sides_of_every_threshold(programme_id: str) -> None:
    programme = PROGRAMMES.by_id[programme_id]
    table = EXPECTED[programme_id]
    assert [level for level, _ in table] == sorted(programme.ranks, key=lambda c: -programme.ranks[c])[: len(table)]
    assert [benefit for _, benefit in table] == [_benefit(programme, level) for level, _ in table]
    # Every threshold is covered with the level just below it.
    levels = [level for level, _ in table]
    for grant in programme.grants:
        assert levels.index(grant.min_level) > 0


def test_unrated_never_qualifies() -> None:
    for programme in PROGRAMMES.by_id.values():
        outcome = evaluate(programme, None, UNRATED, on=DAY)
        assert not outcome.eligible and outcome.reasons[0]["code"] == "level_unrated"


def _through(city_scheme: str, code: str, programme_id: str) -> Any:
    programme = PROGRAMMES.by_id[programme_id]
    t = translate(MAPPINGS, TierRef(city_scheme, code), "sx-integrity/2026.1")
    level = level_on(MAPPINGS, t, programme.scheme)
    assert level is not None
    return _benefit(programme, level.code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("550-600", None), ("600-700", 500), ("700-750", 1000), ("750plus", 1000), ("lt550", None)],
)
def test_hangzhou_tiers_against_the_shaoxing_tier_programme(code: str, expected: Any) -> None:
    assert _through("hangzhou-credit/1", code, "sx-example-bank-medical-pay-later") == expected


@pytest.mark.parametrize(
    ("code", "tickets", "loan"),
    [
        ("lt600", None, None),
        ("600-649", None, None),
        ("650-699", None, None),
        ("700-749", "half", 10),
        ("750plus", "free", 15),
    ],
)
def test_wenzhou_thresholds_land_where_the_examples_were_modelled(code: str, tickets: Any, loan: Any) -> None:
    assert _through("wenzhou-credit/1", code, "sx-scenic-example-tickets") == tickets
    assert _through("wenzhou-credit/1", code, "sx-example-bank-loan-rate-discount") == loan
