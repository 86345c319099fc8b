"""Synthetic residents: GB 11643 ID numbers, names, ages, residency status.

Every draw comes from the one ``random.Random`` the caller passes in, in a fixed order, so the
same seed yields the same people. ID numbers are unique by construction-plus-check: a number
already handed out is redrawn (the check keeps one integer per resident in memory).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Final, TypeVar

from gateway.scoring.resident_id import check_character
from gateway.synth import assumptions as a

__all__ = ["DayTable", "PopulationMaker", "Resident", "expand", "weighted"]

T = TypeVar("T")

HOUSEHOLD: Final = "household_registration"
PERMIT: Final = "residence_permit"
MOVED_AWAY: Final = "moved_away"
_DAYS_PER_YEAR: Final = 365.2425
_PAST_DAYS: Final = 88 * 366  # oldest resident is 85; a little headroom
_FUTURE_DAYS: Final = 800  # permit expiry dates lie up to a year ahead


def expand(pairs: Iterable[tuple[T, int]]) -> tuple[T, ...]:
    """Each value repeated ``weight`` times: an O(1) weighted pick is ``seq[int(r() * len(seq))]``."""
    return tuple(value for value, weight in pairs for _ in range(weight))


def weighted(pairs: Sequence[tuple[T, float]]) -> tuple[tuple[T, ...], tuple[float, ...]]:
    """Values and normalised cumulative weights, for ``bisect_right(cumulative, r())``."""
    total = sum(w for _, w in pairs)
    cumulative = tuple(c / total for c in accumulate(w for _, w in pairs))
    return tuple(v for v, _ in pairs), (*cumulative[:-1], 1.0 + 1e-12)


class DayTable:
    """ISO date strings for every day from about 88 years before ``as_of`` to 800 days after it.

    Indexed by ordinal; turning a day number into text is then a list lookup.
    """

    __slots__ = ("as_of", "base", "iso", "today")

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self.today = as_of.toordinal()
        self.base = self.today - _PAST_DAYS
        first = date.fromordinal(self.base)
        self.iso = [(first + timedelta(days=k)).isoformat() for k in range(_PAST_DAYS + _FUTURE_DAYS + 1)]

    def __getitem__(self, ordinal: int) -> str:
        return self.iso[ordinal - self.base]


@dataclass(frozen=True, slots=True)
class Resident:
    id_number: str
    name: str
    subject: str  # the record's ``"subject":{...}`` member, preformatted
    male: bool
    birth: int  # ordinal of the birth date
    adult_from: int  # ordinal of the 18th birthday (may lie after as_of)
    age: int  # completed years on as_of
    status: str  # household_registration | residence_permit | moved_away
    district: str  # the Shaoxing district they live (or lived) in


def _birthday(born: date, years: int) -> int:
    """Ordinal of the ``years``-th birthday; 29 February birthdays fall on 1 March (as in age_on)."""
    try:
        return born.replace(year=born.year + years).toordinal()
    except ValueError:
        return date(born.year + years, 3, 1).toordinal()


class PopulationMaker:
    """Draws residents one at a time; holds only the set of ID numbers already used."""

    def __init__(self, rng: random.Random, days: DayTable) -> None:
        self._rng = rng
        self._days = days
        self._used: set[int] = set()
        self._sx = expand((code, w) for code, _, w in a.SHAOXING_DIVISIONS)
        self._district = {code: name for code, name, _ in a.SHAOXING_DIVISIONS}
        self._districts = expand((name, w) for _, name, w in a.SHAOXING_DIVISIONS)
        self._other = expand(a.OTHER_DIVISIONS)
        self._bands = expand(((lo, hi), w) for lo, hi, w in a.ADULT_AGE_BANDS)
        self._surnames = expand(a.SURNAMES)
        self._male_given = a.MALE_GIVEN + a.NEUTRAL_GIVEN
        self._female_given = a.FEMALE_GIVEN + a.NEUTRAL_GIVEN

    def _name(self, male: bool) -> str:
        r = self._rng.random
        pool = self._male_given if male else self._female_given
        n = len(pool)
        given = pool[int(r() * n)]
        if r() >= a.SINGLE_GIVEN_SHARE:
            given += pool[int(r() * n)]
        return self._surnames[int(r() * len(self._surnames))] + given

    def next(self) -> Resident:
        r = self._rng.random
        today = self._days.today
        roll = r()
        if roll < a.PERMIT_SHARE:
            status = PERMIT
            division = self._other[int(r() * len(self._other))]
            district = self._districts[int(r() * len(self._districts))]
        else:
            status = MOVED_AWAY if roll < a.PERMIT_SHARE + a.MOVED_AWAY_SHARE else HOUSEHOLD
            division = self._sx[int(r() * len(self._sx))]
            district = self._district[division]
        if r() < a.MINOR_SHARE:
            years = int(r() * 18)
        else:
            lo, hi = self._bands[int(r() * len(self._bands))]
            years = lo + int(r() * (hi - lo + 1))
        birth = max(today - int((years + r()) * _DAYS_PER_YEAR), today - _PAST_DAYS + 1)
        born = date.fromordinal(birth)
        as_of = self._days.as_of
        age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
        male = r() < a.MALE_SHARE
        stem = division + born.strftime("%Y%m%d")
        while True:
            seq = int(r() * 50) * 2 + (1 if male else 0)  # 3rd sequence digit: odd for men
            body = f"{stem}{int(r() * 10)}{seq:02d}"
            key = int(body)
            if key not in self._used:
                self._used.add(key)
                break
        id_number = body + check_character(body)
        name = self._name(male)
        return Resident(
            id_number=id_number,
            name=name,
            subject=f'"subject":{{"id_number":"{id_number}","name":"{name}"}}',
            male=male,
            birth=birth,
            adult_from=_birthday(born, 18),
            age=age,
            status=status,
            district=district,
        )
