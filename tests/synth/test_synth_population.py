"""ID numbers and the population's frequencies, within loose bounds, on the shared 5,000 residents."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING

import pytest

from gateway.scoring.resident_id import parse_resident_id
from gateway.synth import assumptions as a
from gateway.synth.people import DayTable, PopulationMaker

if TYPE_CHECKING:
    from conftest import Population

SHAOXING = {code for code, _, _ in a.SHAOXING_DIVISIONS}


def _share(part: int, whole: int) -> float:
    assert whole > 0
    return 100.0 * part / whole


def test_id_numbers_are_valid_and_unique(population: Population, params: tuple[int, int, date]) -> None:
    ids = [i for i, _ in population.residents]
    assert len(ids) == len(set(ids)) == params[0]
    for id_number in ids:
        parsed = parse_resident_id(id_number, today=params[2])
        assert parsed.normalised == id_number


def test_names_agree_with_the_sex_in_the_id_number(population: Population) -> None:
    men = women = 0
    for id_number, name in population.residents:
        male = int(id_number[16]) % 2 == 1
        surname_len = 2 if name[:2] in {s for s, _ in a.SURNAMES if len(s) == 2} else 1
        given = name[surname_len:]
        assert 1 <= len(given) <= 2
        pool = (a.MALE_GIVEN if male else a.FEMALE_GIVEN) + a.NEUTRAL_GIVEN
        assert set(given) <= set(pool), name
        men += male
        women += not male
    assert 45 <= _share(men, men + women) <= 57


def test_residency_status_and_division_codes(population: Population) -> None:
    status = {
        r["subject"]["id_number"]: r["attributes"] for _, r in population.all_records() if r["item"] == "residency"
    }
    counts = Counter(attrs["status"] for attrs in status.values())
    n = len(status)
    assert 71 <= _share(counts["household_registration"], n) <= 79
    assert 17 <= _share(counts["residence_permit"], n) <= 23
    assert 3.5 <= _share(counts["moved_away"], n) <= 6.5
    expired = 0
    for id_number, attrs in status.items():
        if attrs["status"] == "residence_permit":
            assert id_number[:6] not in SHAOXING
            expired += attrs["valid_until"] < population.manifest.as_of.isoformat()
        else:
            assert id_number[:6] in SHAOXING and "valid_until" not in attrs
    assert 1 <= _share(expired, counts["residence_permit"]) <= 6


def test_ages(population: Population) -> None:
    ages = list(population.ages.values())
    minors = sum(age < 18 for age in ages)
    assert 4 <= _share(minors, len(ages)) <= 10
    assert min(ages) >= 0 and max(ages) <= 85
    adults = [age for age in ages if age >= 18]
    assert 40 <= statistics.median(adults) <= 55
    assert _share(sum(age >= 75 for age in adults), len(adults)) < 10


def test_minors_get_no_evaluation_pledge_or_breach(population: Population) -> None:
    minors = {i for i, age in population.ages.items() if age < 18}
    assert minors
    for item in ("provincial_evaluation", "pledge_made", "pledge_breach", "honour", "civil_capacity"):
        assert not population.people_with(item) & minors, item
    some = population.people_with("volunteer_service") | population.people_with("scoring_authorisation")
    assert some & minors, "units still push a few records about minors"


def test_authorisation(population: Population) -> None:
    adults = population.adults()
    granted = population.people_with("scoring_authorisation", decision="granted") & adults
    withdrawn = population.people_with("scoring_authorisation", decision="withdrawn")
    assert 84 <= _share(len(granted), len(adults)) <= 92
    assert withdrawn <= granted
    assert 0.5 <= _share(len(withdrawn), len(granted)) <= 4
    for records in population.records.values():
        grants = {
            r["subject"]["id_number"]: r["occurred_at"] for r in records if r["attributes"].get("decision") == "granted"
        }
        for r in records:
            if r["attributes"].get("decision") == "withdrawn":
                assert r["occurred_at"] >= grants[r["subject"]["id_number"]]


def test_provincial_evaluation(population: Population) -> None:
    adults = population.adults()
    scores = [r["attributes"]["score"] for r in population.records["zj-credit-platform"]]
    evaluated = population.people_with("provincial_evaluation")
    assert len(scores) == len(evaluated)
    assert 97 <= _share(len(evaluated), len(adults)) <= 100
    assert all(499 <= s <= 890 for s in scores)
    assert 96 <= _share(sum(800 <= s < 850 for s in scores), len(scores)) <= 99.5
    assert 1 <= _share(sum(750 <= s < 800 for s in scores), len(scores)) <= 3.5


def test_civil_capacity(population: Population) -> None:
    findings = population.people_with("civil_capacity", capacity="limited") | population.people_with(
        "civil_capacity", capacity="none"
    )
    assert 0 < _share(len(findings), len(population.adults())) <= 1


def test_pledges(population: Population) -> None:
    adults = len(population.adults())
    items = Counter(r["item"] for _, r in population.all_records())
    assert 1.0 <= items["pledge_made"] / adults <= 1.4
    assert 0.62 <= items["pledge_kept"] / items["pledge_made"] <= 0.78
    units = Counter(unit for unit, r in population.all_records() if r["item"] == "pledge_made")
    assert len(units) == 4 and units.most_common(1)[0][0] == "sx-credit-center"


@pytest.mark.parametrize(("severity", "low", "high"), [("minor", 4, 8), ("serious", 0.8, 2.5), ("grave", 0, 1)])
def test_breaches(population: Population, severity: str, low: float, high: float) -> None:
    people = population.people_with("pledge_breach", severity=severity)
    assert low <= _share(len(people), len(population.adults())) <= high
    assert severity == "grave" or people


def test_honours(population: Population) -> None:
    adults = len(population.adults())
    civil = {
        r["subject"]["id_number"]
        for r in population.records["sx-civil-affairs"]
        if r["attributes"]["level"] == "county"
    }
    assert 2 <= _share(len(civil), adults) <= 4.5
    levels = Counter(r["attributes"]["level"] for r in population.records["sx-civil-affairs"])
    assert levels["county"] > levels["municipal"] > levels["provincial"] >= levels["national"]


def test_donations(population: Population) -> None:
    donations = population.records["sx-charity-federation"]
    donors = {r["subject"]["id_number"] for r in donations}
    per_donor = Counter(r["subject"]["id_number"] for r in donations)
    assert 19 <= _share(len(donors), len(population.ages)) <= 30
    assert set(per_donor.values()) <= set(range(1, 6))
    amounts = [r["attributes"]["amount_yuan"] for r in donations]
    assert 140 <= statistics.median(amounts) <= 280
    assert statistics.mean(amounts) > statistics.median(amounts)  # right-skewed


def test_volunteering(population: Population) -> None:
    sessions = population.records["sx-volunteer-federation"]
    per_person = Counter(r["subject"]["id_number"] for r in sessions)
    assert 24 <= _share(len(per_person), len(population.ages)) <= 34
    assert set(per_person.values()) <= set(range(1, 21)) and max(per_person.values()) >= 15
    assert all(1 <= r["attributes"]["hours"] <= 8 for r in sessions)


def test_self_reports(population: Population) -> None:
    reports = population.records["sx-self-report"]
    people = {r["subject"]["id_number"] for r in reports}
    assert len(people) == len(reports)
    assert people <= population.adults()
    assert 1 <= _share(len(people), len(population.adults())) <= 3.5
    assert {r["item"] for r in reports} == {"volunteer_service", "donation", "honour"}


def test_records_per_resident(population: Population) -> None:
    assert 7.5 <= population.manifest.records / len(population.ages) <= 10.5


def test_id_numbers_stay_unique_when_collisions_are_likely(monkeypatch: pytest.MonkeyPatch) -> None:
    # One division, one birth year: about 365 x 500 numbers per sex, so 20,000 draws collide often.
    monkeypatch.setattr(a, "SHAOXING_DIVISIONS", (("330602", "越城区", 1),))
    monkeypatch.setattr(a, "PERMIT_SHARE", 0.0)
    monkeypatch.setattr(a, "MINOR_SHARE", 0.0)
    monkeypatch.setattr(a, "ADULT_AGE_BANDS", ((30, 30, 1),))
    maker = PopulationMaker(random.Random(3), DayTable(date(2026, 3, 31)))
    people = [maker.next() for _ in range(20_000)]
    ids = [p.id_number for p in people]
    assert len(set(ids)) == len(ids)
    assert len({i[:14] for i in ids}) < 1000  # the draws really did share division and birth dates
    for id_number in ids[:2000]:
        parse_resident_id(id_number, today=date(2026, 3, 31))
