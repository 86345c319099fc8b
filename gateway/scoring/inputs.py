"""What the scoring core reads and returns: plain, immutable values with no database or web types.

The store turns rows into :class:`RecordInput`; the catalogue decides which attribute of a record
becomes ``number``, ``code`` and ``until`` so that scoring a person never parses JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "COUNTING_STATUSES",
    "FamilyResult",
    "IndicatorResult",
    "RecordInput",
    "RecordStatus",
    "ScoreResult",
    "ScoringInputs",
    "Tier",
]


class RecordStatus(StrEnum):
    VALID = "valid"  # supplied by a unit, or a self-report an officer verified
    PENDING = "pending"  # a self-report waiting for verification
    REJECTED = "rejected"  # a self-report an officer rejected
    CORRECTED = "corrected"  # found wrong on objection; replaced or removed
    REPAIRED = "repaired"  # negative information repaired under national and provincial rules
    UNCONFIRMED = "unconfirmed"  # an objection whose check could not confirm it (issue 14), not counting


# Only valid records count; every other status is kept for the record's history but never scored.
COUNTING_STATUSES = frozenset({RecordStatus.VALID})


class RecordInput(NamedTuple):
    """One information record as the scoring core sees it.

    ``ref`` is opaque to the core (the store uses its record id) and is echoed in the breakdown.
    ``number``/``code``/``until`` are the attribute values the catalogue maps for scoring, for
    example the provincial evaluation score, a breach severity, a permit's expiry.

    A named tuple rather than a frozen dataclass: a full recompute builds about ten million of
    these, and a tuple is built in a fraction of the time (immutability is the same).
    """

    ref: str
    item: str
    status: str
    occurred_at: date
    number: float | None = None
    code: str | None = None
    until: date | None = None


@dataclass(frozen=True, slots=True)
class ScoringInputs:
    """Everything known about one person: the birth date (from the ID number) and their records."""

    birth_date: date
    records: Sequence[RecordInput]


@dataclass(frozen=True, slots=True)
class Tier:
    code: str
    label_zh: str
    label_en: str
    min_score: int
    max_score: int


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    """An indicator's contribution: ``points`` after cap and weight, and the records that counted."""

    code: str
    family: str
    points: float
    uncapped_points: float
    capped: bool
    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FamilyResult:
    """A family's total (basic, commitment, other) after the model's family bounds.

    Kept next to the breakdown so a resident can see why the indicator points do not add up to the
    score when a family bound applied.
    """

    code: str
    points: float
    uncapped_points: float
    capped: bool


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The outcome of :func:`gateway.scoring.compute`.

    An ineligible person has ``eligible`` False, a ``reason`` code, and no score, tier or breakdown.
    ``families`` holds the three family totals in the model's order (empty when ineligible).
    """

    eligible: bool
    reason: str | None
    score: int | None
    tier: Tier | None
    model_version: str
    as_of: date
    breakdown: tuple[IndicatorResult, ...]
    families: tuple[FamilyResult, ...] = ()
