"""Equipercentile linking: proposing where a local scale's bands begin so that each holds the same
share of people as the matching level of a reference.

Raw scores of two cities are never compared (city-scores.md §5: the provincial evaluation puts
97.9 % of people in 800–850, city scores cluster around 550–750). What can be compared is rank:
a score on the local scale is equivalent to the reference score that has the same share of people
at or above it. Given the reference's cut-points of the common levels (or the shares directly),
the proposal puts each local cut-point where the local distribution has the same share at or
above, and writes a crosswalk draft (score bands → common levels) for an administrator to review,
edit and publish. The same core (:func:`link_cuts`) answers the other question the issue asks:
which partner score bands are equivalent to each Shaoxing tier.

Input: a *score distribution* document (JSON object; no other members allowed)::

    {
      "scale": "hangzhou-credit/1",            the scheme whose scores these are (optional)
      "source": "...", "as_of": "2026-01-31",  provenance, copied into the proposal (optional)
      "score_range": {"min": 0, "max": 1000},  the scale's ends (optional: the data's own ends)
      "histogram": [{"min": 0, "max": 549, "count": 1200}, ...]
          integer bounds, inclusive, ascending, not overlapping (a gap holds nobody); counts >= 0
      or
      "quantiles": [{"p": 0, "score": 312}, {"p": 0.5, "score": 640}, ..., {"p": 1, "score": 905}]
          p = share of people scoring below `score`; p rising from 0 to 1, scores not falling
    }

The reference document adds the levels it anchors, from the highest level down::

      "common_scheme": "yrd-common/1",
      "anchors": [{"level": "outstanding", "min_score": 850}, ..., {"level": "low", "min_score": 0}]
      or        [{"level": "outstanding", "share_at_or_above": 0.021}, ..., {"level": "low", "share_at_or_above": 1}]

(with shares, no histogram or quantiles are needed). A histogram is read as people spread evenly
over each bin, score ``s`` occupying ``[s, s + 1)``; quantiles are joined linearly. Cut-points are
rounded to the nearest integer, so a proposal is exact to within one bin of the coarser input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.errors import ValidationFailed
from gateway.exchange.tiers import UNRATED, TierScheme

__all__ = [
    "Distribution",
    "InvalidDistribution",
    "LevelProposal",
    "Proposal",
    "link_cuts",
    "parse_distribution",
    "propose_crosswalk",
]

_MAX_POINTS = 10_000
_MAX_ABS_SCORE = 10_000_000
_DOC_KEYS = {"scale", "source", "as_of", "score_range", "histogram", "quantiles", "common_scheme", "anchors"}


class InvalidDistribution(ValidationFailed):
    code = "invalid_distribution"
    title = "The score distribution document is invalid"


def _fail(what: str, rule: str) -> InvalidDistribution:
    return InvalidDistribution(f"{what}: {rule}")


def _number(value: Any, what: str, *, integer: bool = False) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or not math.isfinite(value) or abs(value) > _MAX_ABS_SCORE:
        raise _fail(what, "must be a finite " + ("integer" if integer else "number"))
    return float(value)


@dataclass(frozen=True, slots=True)
class Distribution:
    """A cumulative distribution as knots: ``cdf[i]`` is the share of people scoring below ``xs[i]``."""

    low: int
    high: int
    xs: tuple[float, ...]
    cdf: tuple[float, ...]

    def share_at_or_above(self, score: float) -> float:
        if score <= self.xs[0]:
            return 1.0
        if score >= self.xs[-1]:
            return 0.0
        for i in range(len(self.xs) - 1):
            x0, x1 = self.xs[i], self.xs[i + 1]
            if x0 <= score <= x1:
                below = self.cdf[i] + (self.cdf[i + 1] - self.cdf[i]) * ((score - x0) / (x1 - x0) if x1 > x0 else 1.0)
                return 1.0 - below
        return 0.0  # unreachable: the knots cover [xs[0], xs[-1]]

    def score_at_share(self, share: float) -> float:
        """The score with ``share`` of people at or above it; where nobody scores (a flat stretch
        of the cumulative curve) the middle of that stretch."""
        target = 1.0 - share
        first = last = None
        for i in range(len(self.xs) - 1):
            c0, c1 = self.cdf[i], self.cdf[i + 1]
            if c1 >= target:
                first = (
                    self.xs[i]
                    if c0 >= target
                    else self.xs[i] + (target - c0) / (c1 - c0) * (self.xs[i + 1] - self.xs[i])
                )
                break
        for i in reversed(range(len(self.xs) - 1)):
            c0, c1 = self.cdf[i], self.cdf[i + 1]
            if c0 <= target:
                last = (
                    self.xs[i + 1]
                    if c1 <= target
                    else self.xs[i] + (target - c0) / (c1 - c0) * (self.xs[i + 1] - self.xs[i])
                )
                break
        first = self.xs[-1] if first is None else first
        last = self.xs[0] if last is None else last
        return (first + last) / 2


def _histogram(bins: Any) -> tuple[list[float], list[float], int, int]:
    if not isinstance(bins, list) or not 1 <= len(bins) <= _MAX_POINTS:
        raise _fail("histogram", f"must be a list of 1 to {_MAX_POINTS} bins")
    xs: list[float] = []
    mass: list[float] = []
    end: int | None = None
    for i, b in enumerate(bins):
        if not isinstance(b, dict) or set(b) != {"min", "max", "count"}:
            raise _fail(f"histogram[{i}]", "must be an object with exactly min, max and count")
        low, high = (
            int(_number(b["min"], f"histogram[{i}].min", integer=True)),
            int(_number(b["max"], f"histogram[{i}].max", integer=True)),
        )
        count = _number(b["count"], f"histogram[{i}].count")
        if high < low or count < 0:
            raise _fail(f"histogram[{i}]", "needs min <= max and a count >= 0")
        if end is not None and low <= end:
            raise _fail(f"histogram[{i}]", "bins must be ascending and must not overlap")
        if end is None or low > end + 1:  # start, or a gap: a flat stretch of the curve
            xs.append(low)
            mass.append(0.0)
        xs.append(high + 1)
        mass.append(count)
        end = high
    return xs, mass, int(bins[0]["min"]), int(bins[-1]["max"])


def _quantiles(points: Any) -> tuple[list[float], list[float], int, int]:
    if not isinstance(points, list) or not 2 <= len(points) <= _MAX_POINTS:
        raise _fail("quantiles", f"must be a list of 2 to {_MAX_POINTS} points")
    xs: list[float] = []
    ps: list[float] = []
    for i, q in enumerate(points):
        if not isinstance(q, dict) or set(q) != {"p", "score"}:
            raise _fail(f"quantiles[{i}]", "must be an object with exactly p and score")
        p, score = _number(q["p"], f"quantiles[{i}].p"), _number(q["score"], f"quantiles[{i}].score")
        if not 0 <= p <= 1 or (ps and (p <= ps[-1] or score < xs[-1])):
            raise _fail(f"quantiles[{i}]", "p must rise strictly within 0..1 and scores must not fall")
        xs.append(score)
        ps.append(p)
    if ps[0] != 0 or ps[-1] != 1:
        raise _fail("quantiles", "must start at p = 0 and end at p = 1")
    return xs, ps, math.floor(xs[0]), math.ceil(xs[-1]) - 1


def parse_distribution(doc: Any, what: str, *, shares_only_ok: bool = False) -> Distribution | None:
    """Validate a distribution document; None for a reference that gives shares only."""
    if not isinstance(doc, dict):
        raise _fail(what, "must be a JSON object")
    unknown = set(doc) - _DOC_KEYS
    if unknown:
        raise _fail(what, f"unknown member(s) {', '.join(sorted(unknown))}")
    for key in ("scale", "source", "as_of", "common_scheme"):
        if key in doc and not isinstance(doc[key], str):
            raise _fail(f"{what}.{key}", "must be a string")
    kinds = [k for k in ("histogram", "quantiles") if k in doc]
    if len(kinds) > 1 or (not kinds and not shares_only_ok):
        raise _fail(what, "needs exactly one of histogram or quantiles")
    if not kinds:
        return None
    if kinds[0] == "histogram":
        xs, mass, low, high = _histogram(doc["histogram"])
        total = sum(mass)
        if total <= 0:
            raise _fail(f"{what}.histogram", "counts nobody")
        running, cdf = 0.0, []
        for m in mass:
            running += m
            cdf.append(min(running / total, 1.0))
    else:
        xs, cdf, low, high = _quantiles(doc["quantiles"])
    rng = doc.get("score_range")
    if rng is not None:
        if not isinstance(rng, dict) or set(rng) != {"min", "max"}:
            raise _fail(f"{what}.score_range", "must be an object with exactly min and max")
        rmin, rmax = (int(_number(rng[k], f"{what}.score_range.{k}", integer=True)) for k in ("min", "max"))
        if not rmin <= low <= high <= rmax:
            raise _fail(f"{what}.score_range", "must contain every score of the distribution")
        low, high = rmin, rmax
    return Distribution(low, high, tuple(xs), tuple(cdf))


def link_cuts(reference_shares: Sequence[float], target: Distribution, low: int, high: int) -> list[int]:
    """Equipercentile cut-points on the target scale, one per share (highest level first): the
    first score of each level, with the same share of people at or above it as in the reference.
    The last level starts at ``low``; a cut above ``high`` means the level's band is empty."""
    cuts = [min(max(math.floor(target.score_at_share(q) + 0.5), low), high + 1) for q in reference_shares]
    cuts[-1] = low
    for i in range(1, len(cuts)):  # rounding never reorders them, but an empty band must stay empty
        cuts[i] = min(cuts[i], cuts[i - 1])
    return cuts


@dataclass(frozen=True, slots=True)
class LevelProposal:
    level: str
    reference_share: float
    band: tuple[int, int] | None  # None: no local score separates this level from the next
    local_share: float


@dataclass(frozen=True, slots=True)
class Proposal:
    document: dict[str, Any]
    levels: tuple[LevelProposal, ...]
    notes: tuple[str, ...]


def _anchors(
    doc: Mapping[str, Any], reference: Distribution | None, common: TierScheme | None
) -> list[tuple[str, float]]:
    anchors = doc.get("anchors")
    if not isinstance(anchors, list) or not 1 <= len(anchors) <= 64:
        raise _fail("common.anchors", "must list the levels, highest first")
    out: list[tuple[str, float]] = []
    for i, a in enumerate(anchors):
        if not isinstance(a, dict) or not isinstance(a.get("level"), str) or len(a) != 2:
            raise _fail(f"common.anchors[{i}]", "must be {level, min_score} or {level, share_at_or_above}")
        if "share_at_or_above" in a:
            share = _number(a["share_at_or_above"], f"common.anchors[{i}].share_at_or_above")
        elif "min_score" in a and reference is not None:
            share = reference.share_at_or_above(_number(a["min_score"], f"common.anchors[{i}].min_score", integer=True))
        else:
            raise _fail(f"common.anchors[{i}]", "min_score needs a histogram or quantiles; otherwise give shares")
        if not 0 <= share <= 1 or (out and share < out[-1][1]):
            raise _fail(f"common.anchors[{i}]", "shares at or above must not fall from one level to the next")
        out.append((a["level"], share))
    if len({lvl for lvl, _ in out}) != len(out):
        raise _fail("common.anchors", "names a level twice")
    if out[-1][1] < 1 - 1e-9:
        raise _fail("common.anchors", "the lowest level must hold everybody (start at the bottom of the scale)")
    if common is not None:
        expected = [t.code for t in sorted(common.tiers, key=lambda t: t.rank) if t.code != UNRATED]
        if [lvl for lvl, _ in out] != expected:
            raise _fail("common.anchors", f"must name the levels of {common.scheme} in order: {', '.join(expected)}")
    return out


def _local_equivalent(scheme: TierScheme, band: tuple[int, int]) -> str | None:
    """The local tier overlapping the band most (ties: the lower tier, the cautious reading)."""
    best: tuple[int, int, str] | None = None
    for t in scheme.tiers:
        if t.code == UNRATED or (t.min_score is None and t.max_score is None):
            continue
        lo = band[0] if t.min_score is None else max(band[0], t.min_score)
        hi = band[1] if t.max_score is None else min(band[1], t.max_score)
        key = (max(0, hi - lo + 1), t.rank, t.code)
        if key[0] > 0 and (best is None or key[:2] > best[:2]):
            best = key
    return best[2] if best else None


def propose_crosswalk(
    local_doc: Any,
    common_doc: Any,
    *,
    local_scheme: TierScheme | None = None,
    common_scheme: TierScheme | None = None,
    crosswalk_id: str | None = None,
    effective_from: date,
) -> Proposal:
    """A crosswalk draft (local score bands → common levels) by equipercentile linking.

    :raises InvalidDistribution: either document breaks the format above, or the local scheme
        cannot be named.
    """
    local = parse_distribution(local_doc, "local")
    reference = parse_distribution(common_doc, "common", shares_only_ok=True)
    assert local is not None
    levels = _anchors(common_doc, reference, common_scheme)
    scheme_id = local_scheme.scheme if local_scheme else local_doc.get("scale")
    common_id = common_scheme.scheme if common_scheme else common_doc.get("common_scheme")
    if not scheme_id or not common_id:
        raise _fail("local.scale / common.common_scheme", "name the local scheme and the common scheme")
    low, high = local.low, local.high
    rng = local_scheme.document.get("score_range") if local_scheme else None
    if rng:
        if not rng["min"] <= local.low <= local.high <= rng["max"]:
            raise _fail("local", f"scores fall outside {scheme_id}'s range {rng['min']}–{rng['max']}")
        low, high = rng["min"], rng["max"]
    cuts = link_cuts([share for _, share in levels], local, low, high)
    proposals: list[LevelProposal] = []
    notes: list[str] = []
    start_above = high + 1
    for (level, share), cut in zip(levels, cuts, strict=True):
        band = (cut, start_above - 1) if cut <= start_above - 1 else None
        if band is None:
            notes.append(f"{level}: no local score separates it from the level below; it has no band.")
        else:
            start_above = cut
        proposals.append(LevelProposal(level, share, band, local.share_at_or_above(cut) if band else 0.0))
    from_common: list[dict[str, str]] = []
    if local_scheme is not None:
        for p, cut in zip(proposals, cuts, strict=True):
            # A level without a band is read at its would-be cut-point.
            equivalent = _local_equivalent(local_scheme, p.band or (min(cut, high), min(cut, high)))
            if equivalent is None:
                from_common = []
                break
            from_common.append({"common": p.level, "local": equivalent})
    if not from_common:
        notes.append("from_common could not be derived from the local tiers' score bands: fill it in.")
    shares = "; ".join(f"{p.level} {p.reference_share:.2%}" for p in proposals)
    provenance = ", ".join(
        f"{name}: {doc.get('source', 'unnamed source')}" + (f" as of {doc['as_of']}" if "as_of" in doc else "")
        for name, doc in (("local", local_doc), ("reference", common_doc))
    )
    document = {
        "id": crosswalk_id or f"{str(scheme_id).split('/')[0]}-{str(common_id).split('/')[0]}",
        "version": 1,
        "effective_from": effective_from.isoformat(),
        "local_scheme": scheme_id,
        "common_scheme": common_id,
        "provisional": True,
        "basis": (
            f"Equipercentile proposal: each band holds the share of people at or above its level that the "
            f"reference holds ({shares}). Distributions — {provenance}. To be reviewed before publishing."
        ),
        "to_common": [{"min_score": p.band[0], "max_score": p.band[1], "common": p.level} for p in proposals if p.band],
        "from_common": from_common,
    }
    return Proposal(document, tuple(proposals), tuple(notes))
