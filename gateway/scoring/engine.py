"""The scoring engine: one person's records and a compiled model in, a :class:`ScoreResult` out.

``compute`` runs once per person in a full recompute of about a million people, so everything that
depends only on the model is prepared at load time (:mod:`gateway.scoring.model` builds one
evaluator per indicator from the classes below) and a call only groups the person's records by
item and walks the indicators in model order.

Rules, in the order they apply:

1. A record counts only if its status is in ``COUNTING_STATUSES`` (so repaired, corrected, rejected
   and pending records never do) and it occurred on or before ``as_of``.
2. Eligibility (:mod:`gateway.scoring.eligibility`) comes first; an ineligible person gets a reason
   and no score, tier or breakdown.
3. Each indicator keeps the records of its catalogue item that match its ``where_code`` and are at
   most ``max_age_days`` old (``as_of - occurred_at <= max_age_days``), then:
   ``scaled`` maps the latest such record's number through the piecewise-linear scale; ``per_record``
   gives points per record (or per record by code); ``per_amount`` gives ``points`` per ``per``
   units of the summed numbers. The weight multiplies the result, then the cap bounds its absolute
   value (``-cap <= points <= cap``).
4. Indicator points are rounded to 2 decimals, summed per family (in model order) and bounded by
   the family's ``min_points``/``max_points``; family totals are rounded to 2 decimals too.
5. The score is the sum of the family totals rounded half up to an integer (x.5 goes up; the sum is
   first rounded to 2 decimals so binary noise cannot decide a half), clamped to 0..max_score, and
   its tier is the band containing it.

A person with no provincial evaluation is still scored: the scaled indicator has no record and
contributes 0, like any indicator without records. A record whose number is missing or not finite
does not count for ``scaled`` and ``per_amount`` indicators. Every indicator appears in the breakdown, in
model order, with the sorted refs of the records that contributed to it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import InvalidScoringModel
from gateway.scoring.eligibility import (
    AUTHORISATION_ITEM,
    CIVIL_CAPACITY_ITEM,
    RESIDENCY_ITEM,
    eligibility_reason,
)
from gateway.scoring.inputs import (
    COUNTING_STATUSES,
    FamilyResult,
    IndicatorResult,
    RecordInput,
    ScoreResult,
    ScoringInputs,
)

if TYPE_CHECKING:
    from gateway.scoring.model import ScoringModel

__all__ = [
    "IndicatorEvaluator",
    "PerAmountEvaluator",
    "PerRecordEvaluator",
    "ScaledEvaluator",
    "build_evaluator",
    "compute",
    "round_half_up",
]

# Plain strings: set membership of a str is cheaper against str members than against enum members.
_COUNTING = frozenset(str(status) for status in COUNTING_STATUSES)

Outcome = tuple[float, tuple[str, ...]]
# A NaN or infinite number (the JSON parser accepts them) must not turn a person's score into an
# exception in the middle of a full recompute: such a record simply does not count.
_isfinite = math.isfinite


class IndicatorEvaluator(Protocol):
    def evaluate(self, records: list[RecordInput], as_of: date) -> Outcome | None:
        """Weighted, uncapped points and the refs that contributed, or None if no record counts.

        ``records`` are the person's counting records of the indicator's item up to ``as_of``.
        """
        ...


class _Filtered:
    __slots__ = ("_max_age", "_weight", "_where_code")

    def __init__(self, weight: float, where_code: str | None, max_age_days: int | None) -> None:
        self._weight = weight
        self._where_code = where_code
        self._max_age = None if max_age_days is None else timedelta(days=max_age_days)

    def _matching(self, records: list[RecordInput], as_of: date) -> list[RecordInput]:
        code = self._where_code
        if self._max_age is None:
            if code is None:
                return records
            return [r for r in records if r.code == code]
        cutoff = as_of - self._max_age
        if code is None:
            return [r for r in records if r.occurred_at >= cutoff]
        return [r for r in records if r.code == code and r.occurred_at >= cutoff]


class ScaledEvaluator(_Filtered):
    """The latest matching record's number through a piecewise-linear scale, clamped at both ends."""

    __slots__ = ("_xs", "_ys")

    def __init__(
        self,
        breakpoints: Sequence[tuple[float, float]],
        *,
        weight: float,
        where_code: str | None,
        max_age_days: int | None,
    ) -> None:
        super().__init__(weight, where_code, max_age_days)
        self._xs = tuple(float(x) for x, _ in breakpoints)
        self._ys = tuple(float(y) for _, y in breakpoints)

    def points_for(self, value: float) -> float:
        xs, ys = self._xs, self._ys
        i = bisect_right(xs, value)
        if i == 0:
            return ys[0]
        if i == len(xs):
            return ys[-1]
        x0, y0 = xs[i - 1], ys[i - 1]
        return y0 + (ys[i] - y0) * (value - x0) / (xs[i] - x0)

    def evaluate(self, records: list[RecordInput], as_of: date) -> Outcome | None:
        best: RecordInput | None = None
        for r in self._matching(records, as_of):
            if (
                r.number is not None
                and _isfinite(r.number)
                and (best is None or (r.occurred_at, r.ref) > (best.occurred_at, best.ref))
            ):
                best = r
        if best is None or best.number is None:
            return None
        return self._weight * self.points_for(best.number), (best.ref,)


class PerRecordEvaluator(_Filtered):
    """Fixed points per matching record, or points by the record's code (codes not listed don't count)."""

    __slots__ = ("_by_code", "_points")

    def __init__(
        self,
        *,
        points: float | None,
        points_by_code: Mapping[str, float] | None,
        weight: float,
        where_code: str | None,
        max_age_days: int | None,
    ) -> None:
        super().__init__(weight, where_code, max_age_days)
        if points is None and points_by_code is None:
            raise ValueError("per_record needs points or points_by_code")
        self._points = 0.0 if points is None else points
        self._by_code = None if points_by_code is None else dict(points_by_code)

    def evaluate(self, records: list[RecordInput], as_of: date) -> Outcome | None:
        matching = self._matching(records, as_of)
        if not matching:
            return None
        by_code = self._by_code
        if by_code is None:
            total = self._points * len(matching)
            refs = [r.ref for r in matching]
        else:
            refs = []
            values: list[float] = []
            for r in matching:
                value = None if r.code is None else by_code.get(r.code)
                if value is not None:
                    refs.append(r.ref)
                    values.append(value)
            if not refs:
                return None
            # fsum is exactly rounded, hence independent of the order the records arrived in.
            total = math.fsum(values)
        if len(refs) > 1:
            refs.sort()
        return self._weight * total, tuple(refs)


class PerAmountEvaluator(_Filtered):
    """``points`` per ``per`` units of the matching records' summed numbers (fractions allowed)."""

    __slots__ = ("_per", "_points")

    def __init__(
        self,
        *,
        points: float,
        per: float,
        weight: float,
        where_code: str | None,
        max_age_days: int | None,
    ) -> None:
        super().__init__(weight, where_code, max_age_days)
        self._points = points
        self._per = per

    def evaluate(self, records: list[RecordInput], as_of: date) -> Outcome | None:
        refs: list[str] = []
        amounts: list[float] = []
        for r in self._matching(records, as_of):
            if r.number is not None and _isfinite(r.number):
                refs.append(r.ref)
                amounts.append(r.number)
        if not refs:
            return None
        if len(refs) > 1:
            refs.sort()
        # fsum: an exactly rounded sum does not depend on the order the records arrived in.
        return self._weight * (math.fsum(amounts) * self._points / self._per), tuple(refs)


def build_evaluator(spec: Mapping[str, Any]) -> IndicatorEvaluator:
    """The evaluator for one indicator entry of a model document that passed validation."""
    kind = spec["kind"]
    weight = float(spec.get("weight", 1))
    where_code: str | None = spec.get("where_code")
    max_age: int | None = spec.get("max_age_days")
    if kind == "scaled":
        breakpoints = [(float(x), float(y)) for x, y in spec["scale"]]
        return ScaledEvaluator(breakpoints, weight=weight, where_code=where_code, max_age_days=max_age)
    if kind == "per_record":
        by_code = spec.get("points_by_code")
        return PerRecordEvaluator(
            points=None if "points" not in spec else float(spec["points"]),
            points_by_code=None if by_code is None else {k: float(v) for k, v in by_code.items()},
            weight=weight,
            where_code=where_code,
            max_age_days=max_age,
        )
    if kind == "per_amount":
        return PerAmountEvaluator(
            points=float(spec["points"]),
            per=float(spec["per"]),
            weight=weight,
            where_code=where_code,
            max_age_days=max_age,
        )
    # The schema admits only the kinds above; this guards against a schema edited out of step.
    raise InvalidScoringModel(f"Indicator '{spec.get('code')}' has an unknown kind '{kind}'.")


def round_half_up(value: float) -> int:
    """Nearest integer with halves going up (649.5 → 650, -0.5 → 0), after rounding off binary noise."""
    return math.floor(round(value, 2) + 0.5)


def compute(inputs: ScoringInputs, model: ScoringModel, as_of: date) -> ScoreResult:
    """Score one person on ``as_of`` under ``model`` (see the module docstring for the rules)."""
    relevant = model.relevant_items
    by_item: dict[str, list[RecordInput]] = {}
    for record in inputs.records:
        if record.occurred_at <= as_of and record.status in _COUNTING and record.item in relevant:
            bucket = by_item.get(record.item)
            if bucket is None:
                by_item[record.item] = [record]
            else:
                bucket.append(record)

    reason = eligibility_reason(
        inputs.birth_date,
        as_of,
        by_item.get(AUTHORISATION_ITEM),
        by_item.get(RESIDENCY_ITEM),
        by_item.get(CIVIL_CAPACITY_ITEM),
    )
    if reason is not None:
        return ScoreResult(False, reason, None, None, model.version, as_of, ())

    family_sums = [0.0] * len(model.families)
    breakdown: list[IndicatorResult] = []
    for indicator in model.indicators:
        records = by_item.get(indicator.item)
        outcome = None if records is None else indicator.evaluator.evaluate(records, as_of)
        if outcome is None:
            breakdown.append(indicator.zero)
            continue
        raw, refs = outcome
        cap = indicator.cap
        capped = raw > cap or raw < -cap
        points = (cap if raw > 0 else -cap) if capped else raw
        # round() costs about as much as building the result; most points are whole numbers.
        if not points.is_integer():
            points = round(points, 2)
        family_sums[indicator.family_index] += points
        uncapped = raw if raw.is_integer() else round(raw, 2)
        breakdown.append(IndicatorResult(indicator.code, indicator.family, points, uncapped, capped, refs))

    families: list[FamilyResult] = []
    total = 0.0
    for family, raw_sum in zip(model.families, family_sums, strict=True):
        if raw_sum == 0.0:
            result = family.zero
        else:
            uncapped = raw_sum if raw_sum.is_integer() else round(raw_sum, 2)
            points = family.bound(uncapped)
            result = FamilyResult(family.code, points, uncapped, points != uncapped)
        total += result.points
        families.append(result)

    score = min(max(round_half_up(total), 0), model.max_score)
    return ScoreResult(
        True, None, score, model.tier_for(score), model.version, as_of, tuple(breakdown), tuple(families)
    )
