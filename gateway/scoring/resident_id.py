"""Resident identity card numbers (公民身份号码), GB 11643-1999.

An 18-character number: a 6-digit administrative division code, an 8-digit birth date
(YYYYMMDD), a 3-digit sequence (odd for men, even for women) and a check character computed
with ISO 7064 MOD 11-2 (``X`` stands for 10). A lower-case ``x`` is accepted and normalised.

The parsed number is only ever held in memory long enough to derive its keyed hash and birth
date; nothing here logs or stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from operator import mul

from gateway.errors import InvalidResidentId

__all__ = ["ResidentId", "check_character", "parse_resident_id"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# First two digits: the province-level division codes of GB/T 2260 (incl. 71/81/82 for Taiwan, HK, Macao).
_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, repr=False)
class ResidentId:
    """A validated, normalised ID number. ``repr`` never shows the number."""

    normalised: str
    birth_date: date
    division_code: str

    def __repr__(self) -> str:
        return "ResidentId(<redacted>)"

    __str__ = __repr__

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != len(_WEIGHTS):
        raise ValueError("17 digits")
    # map() instead of a generator: ingestion checks every record's ID number (issue 12's profile).
    total = sum(map(mul, map(int, first17), _WEIGHTS))
    return _CHECK[total % 11]


def parse_resident_id(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate and normalise an ID number.

    :raises InvalidResidentId: with ``reason`` in length, format, region, birth_date, check_digit.
    """
    if not isinstance(raw, str):
        raise InvalidResidentId("format")
    value = raw.strip()
    if len(value) != 18:
        raise InvalidResidentId("length")
    value = value[:17] + value[17].upper()
    body, last = value[:17], value[17]
    if not body.isascii() or not body.isdigit() or not (last.isdigit() or last == "X"):
        raise InvalidResidentId("format")
    if value[:2] not in _PROVINCES:
        raise InvalidResidentId("region")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidResidentId("birth_date") from None
    if born.year < 1900 or born > (today or date.today()):
        raise InvalidResidentId("birth_date")
    if check_character(body) != last:
        raise InvalidResidentId("check_digit")
    return ResidentId(normalised=value, birth_date=born, division_code=value[:6])


def age_on(born: date, day: date) -> int:
    """Completed years of age on ``day`` (a person born on 29 February turns a year older on 1 March)."""
    years = day.year - born.year
    if (day.month, day.day) < (born.month, born.day):
        years -= 1
    return years
