"""What would change a tier: the points to the next tier and the headroom left per indicator.

Pure, like the rest of the core: a compiled model and a person's indicator points in, an
explanation out. Nothing is hard-coded: the tiers, caps, family bounds and the direction of each
indicator (a reward or a penalty) all come from the model, so a new model explains itself.

* ``points_to_next_tier`` is the integer score points between the current score and the lowest
  score of the next tier up (None at the top tier).
* For a reward indicator, ``headroom`` is its cap minus its current points; ``effective_headroom``
  also respects the family's ``max_points`` (the "other information" family is bounded as a
  whole), so it is what the indicator can still add to the score.
* For a penalty indicator, the points it costs now and how long its records keep counting
  (``max_age_days``): penalties stop counting with age, they cannot be bought off.
* ``reachable`` says whether all effective headroom together covers the points to the next tier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from gateway.scoring.model import ScoringModel

__all__ = ["IndicatorHeadroom", "TierExplanation", "explain_tier"]


@dataclass(frozen=True, slots=True)
class IndicatorHeadroom:
    code: str
    family: str
    direction: str  # "reward" | "penalty"
    points: float
    cap: float
    headroom: float
    effective_headroom: float
    max_age_days: int | None


@dataclass(frozen=True, slots=True)
class TierExplanation:
    score: int
    tier: str
    next_tier: str | None
    points_to_next_tier: int | None
    reachable: bool | None
    indicators: tuple[IndicatorHeadroom, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "tier": self.tier,
            "next_tier": self.next_tier,
            "points_to_next_tier": self.points_to_next_tier,
            "reachable_with_headroom": self.reachable,
            "indicators": [
                {
                    "indicator": i.code,
                    "family": i.family,
                    "direction": i.direction,
                    "points": i.points,
                    "cap": i.cap,
                    "headroom": i.headroom,
                    "effective_headroom": i.effective_headroom,
                    "max_age_days": i.max_age_days,
                }
                for i in self.indicators
            ],
        }


@cache
def _best_points(source: str) -> dict[str, float]:
    """The most an indicator's records can ever give, signed, from the model document."""
    out: dict[str, float] = {}
    for spec in json.loads(source)["indicators"]:
        weight = float(spec.get("weight", 1))
        if spec["kind"] == "scaled":
            values = [float(y) for _, y in spec["scale"]]
            best = max(values, key=abs)
        elif "points_by_code" in spec:
            best = max((float(v) for v in spec["points_by_code"].values()), key=abs)
        else:
            best = float(spec["points"])
        out[spec["code"]] = best * weight
    return out


def explain_tier(model: ScoringModel, score: int, indicator_points: Mapping[str, float]) -> TierExplanation:
    """Explain ``score`` (with its per-indicator ``indicator_points``) under ``model``."""
    tier = model.tier_for(score)
    above = sorted((t for t in model.tiers if t.min_score > score), key=lambda t: t.min_score)
    nxt = above[0] if above else None
    best = _best_points(model.source)
    family_points: dict[str, float] = {f.code: 0.0 for f in model.families}
    for indicator in model.indicators:
        family_points[indicator.family] += float(indicator_points.get(indicator.code, 0.0))
    family_room: dict[str, float | None] = {
        f.code: (None if f.max_points is None else max(f.max_points - family_points[f.code], 0.0))
        for f in model.families
    }

    rows: list[IndicatorHeadroom] = []
    for indicator in model.indicators:
        points = float(indicator_points.get(indicator.code, 0.0))
        reward = best.get(indicator.code, 0.0) > 0
        headroom = round(max(indicator.cap - points, 0.0), 2) if reward else 0.0
        room = family_room[indicator.family]
        effective = headroom if room is None else round(min(headroom, room), 2)
        rows.append(
            IndicatorHeadroom(
                code=indicator.code,
                family=indicator.family,
                direction="reward" if reward else "penalty",
                points=points,
                cap=indicator.cap,
                headroom=headroom,
                effective_headroom=effective,
                max_age_days=indicator.max_age_days,
            )
        )
    reachable: bool | None = None
    if nxt is not None:
        # Per family, the indicators' room together can never exceed the family's own room.
        total = 0.0
        for family in model.families:
            summed = sum(r.effective_headroom for r in rows if r.family == family.code)
            room = family_room[family.code]
            total += summed if room is None else min(summed, room)
        reachable = total >= nxt.min_score - score
    return TierExplanation(
        score=score,
        tier=tier.code,
        next_tier=nxt.code if nxt else None,
        points_to_next_tier=(nxt.min_score - score) if nxt else None,
        reachable=reachable,
        indicators=tuple(rows),
    )
