"""Who may have a score at all (measure 一(一)), decided before any indicator is looked at.

The measure scores adults (18+) with full civil capacity who live in Shaoxing, either with a local
household registration (户籍) or a residence permit (居住证), and only after the person's real-name
authorisation. These rules are the measure's, not the model's, so they do not vary by model.

Each check reads the *latest* counting record of its item (by ``occurred_at``, ties broken by
``ref``), so a later record replaces an earlier one: a withdrawal after a grant, a move away after a
registration. Checks run in a fixed order and the first failure is the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from gateway.scoring.inputs import COUNTING_STATUSES, RecordInput, ScoringInputs
from gateway.scoring.resident_id import age_on

__all__ = [
    "ADULT_AGE",
    "AUTHORISATION_ITEM",
    "CIVIL_CAPACITY_ITEM",
    "ELIGIBILITY_ITEMS",
    "RESIDENCY_ITEM",
    "Ineligibility",
    "check_eligibility",
    "eligibility_reason",
    "latest_record",
]

ADULT_AGE = 18
AUTHORISATION_ITEM = "scoring_authorisation"
RESIDENCY_ITEM = "residency"
CIVIL_CAPACITY_ITEM = "civil_capacity"
ELIGIBILITY_ITEMS = frozenset({AUTHORISATION_ITEM, RESIDENCY_ITEM, CIVIL_CAPACITY_ITEM})

_GRANTED = "granted"
_WITHDRAWN = "withdrawn"
_HOUSEHOLD_REGISTRATION = "household_registration"
_RESIDENCE_PERMIT = "residence_permit"
_NOT_FULL_CAPACITY = frozenset({"limited", "none"})
_COUNTING = frozenset(str(status) for status in COUNTING_STATUSES)


class Ineligibility(StrEnum):
    """Why a person has no score, in the order the checks run."""

    NO_AUTHORISATION = "no_authorisation"
    # The resident withdrew: officers and partners see "no score" with this reason until the
    # records are deleted (issue 9; gateway.services.residents.retention).
    AUTHORISATION_WITHDRAWN = "authorisation_withdrawn"
    UNDER_AGE = "under_age"
    NOT_RESIDENT = "not_resident"
    NO_FULL_CIVIL_CAPACITY = "no_full_civil_capacity"


def latest_record(records: Sequence[RecordInput] | None) -> RecordInput | None:
    """The latest record by ``(occurred_at, ref)``; the ref tie-break keeps the choice independent
    of the order the store returned rows in."""
    if not records:
        return None
    if len(records) == 1:  # the usual case: one grant, one registration
        return records[0]
    best: RecordInput | None = None
    for record in records:
        if best is None or _order(record) > _order(best):
            best = record
    return best


def _order(record: RecordInput) -> tuple[date, int, str]:
    # Store refs are "r:<row id>": comparing them as text would put r:100 before r:99, so the
    # length comes first (a later row of the same day wins, as the database inserted it later).
    return (record.occurred_at, len(record.ref), record.ref)


def eligibility_reason(
    birth_date: date,
    as_of: date,
    authorisations: Sequence[RecordInput] | None,
    residencies: Sequence[RecordInput] | None,
    capacities: Sequence[RecordInput] | None,
) -> Ineligibility | None:
    """The first failed condition, or None when the person may be scored.

    The record sequences must already be restricted to counting records of the item that occurred
    on or before ``as_of`` (the engine has grouped them that way anyway).
    """
    authorisation = latest_record(authorisations)
    if authorisation is not None and authorisation.code == _WITHDRAWN:
        return Ineligibility.AUTHORISATION_WITHDRAWN
    if (
        authorisation is None
        or authorisation.code != _GRANTED
        # The catalogue has no expiry for the authorisation yet; honour one if a later edition adds it.
        or (authorisation.until is not None and authorisation.until < as_of)
    ):
        return Ineligibility.NO_AUTHORISATION

    if age_on(birth_date, as_of) < ADULT_AGE:
        return Ineligibility.UNDER_AGE

    residency = latest_record(residencies)
    if residency is None:
        return Ineligibility.NOT_RESIDENT
    if residency.code == _RESIDENCE_PERMIT:
        # A permit without a recorded expiry is taken as valid: valid_until is optional in the
        # catalogue, and a missing attribute is not evidence that the permit lapsed.
        if residency.until is not None and residency.until < as_of:
            return Ineligibility.NOT_RESIDENT
    elif residency.code != _HOUSEHOLD_REGISTRATION:
        return Ineligibility.NOT_RESIDENT

    # No court finding means full capacity: capacity is presumed for adults.
    capacity = latest_record(capacities)
    if capacity is not None and capacity.code in _NOT_FULL_CAPACITY:
        return Ineligibility.NO_FULL_CIVIL_CAPACITY
    return None


def check_eligibility(inputs: ScoringInputs, as_of: date) -> Ineligibility | None:
    """:func:`eligibility_reason` straight from a person's inputs (filters the records itself)."""
    grouped: dict[str, list[RecordInput]] = {item: [] for item in ELIGIBILITY_ITEMS}
    for record in inputs.records:
        bucket = grouped.get(record.item)
        if bucket is not None and record.status in _COUNTING and record.occurred_at <= as_of:
            bucket.append(record)
    return eligibility_reason(
        inputs.birth_date,
        as_of,
        grouped[AUTHORISATION_ITEM],
        grouped[RESIDENCY_ITEM],
        grouped[CIVIL_CAPACITY_ITEM],
    )
