"""One resident's records, formatted straight into NDJSON lines per collaborating unit.

Lines are built from format strings rather than ``json.dumps``: every value interpolated is a
number, an ISO date, an ASCII code or reference, or Chinese text from the word lists and names in
:mod:`gateway.synth.assumptions`, none of which contains a quote, a backslash or a control
character. Output is UTF-8 with Chinese characters unescaped.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from gateway.synth import assumptions as a
from gateway.synth.people import HOUSEHOLD, MOVED_AWAY, DayTable, Resident, expand, weighted

__all__ = ["PLAN", "UNITS", "Emitter", "UnitSink"]

# (unit id, unit kind, source_ref prefix); the order is the manifest's order.
UNITS: Final = (
    ("zj-credit-platform", "provincial_credit_platform", "ZJCP"),
    ("sx-public-security", "public_security", "SXGA"),
    ("sx-intermediate-court", "court", "SXZY"),
    ("sx-credit-center", "credit_office", "SXXY"),
    ("sx-market-regulation", "market_regulation", "SXSJ"),
    ("sx-transport", "transport", "SXJT"),
    ("sx-water-utility", "utility", "SXSW"),
    ("sx-civil-affairs", "civil_affairs", "SXMZ"),
    ("sx-charity-federation", "charity_federation", "SXCS"),
    ("sx-volunteer-federation", "volunteer_federation", "SXZL"),
    ("sx-self-report", "self_report_channel", "SXZB"),
)
# Which items each unit may emit here; checked against the catalogue's suppliers before a run.
PLAN: Final = {
    "zj-credit-platform": ("provincial_evaluation",),
    "sx-public-security": ("residency", "pledge_breach"),
    "sx-intermediate-court": ("civil_capacity", "pledge_breach"),
    "sx-credit-center": ("scoring_authorisation", "pledge_made", "pledge_kept"),
    "sx-market-regulation": ("pledge_made", "pledge_kept", "pledge_breach"),
    "sx-transport": ("pledge_made", "pledge_kept", "pledge_breach"),
    "sx-water-utility": ("pledge_made", "pledge_kept", "pledge_breach"),
    "sx-civil-affairs": ("honour",),
    "sx-charity-federation": ("donation",),
    "sx-volunteer-federation": ("volunteer_service",),
    "sx-self-report": ("volunteer_service", "donation", "honour"),
}

_DECISION_REFS: Final = {
    "sx-intermediate-court": "({y})浙06执{n}号",
    "sx-market-regulation": "绍市监处罚〔{y}〕{n}号",
    "sx-transport": "绍交执罚〔{y}〕{n}号",
    "sx-water-utility": "绍水务罚〔{y}〕{n}号",
    "sx-public-security": "绍公(治)行罚决字〔{y}〕{n}号",
}
_HOURS: Final = tuple(f"{h / 2:g}" for h in range(2, 17))  # 1, 1.5, ... 8
_HOURS_WEIGHTED: Final = expand((h, 6 if float(h) <= 4 else 2) for h in _HOURS)
_AUTH_CHANNELS: Final = expand(a.AUTH_CHANNELS)
_WINDOW_3Y: Final = 3 * 365
_WINDOW_6Y: Final = 6 * 365 + 1
_WINDOW_10Y: Final = 10 * 365 + 2


def _poisson_cdf(mean: float, top: int = 15) -> tuple[float, ...]:
    total, term, out = 0.0, math.exp(-mean), []
    for k in range(top):
        total += term
        out.append(total)
        term *= mean / (k + 1)
    return tuple(out)


@dataclass(slots=True)
class UnitSink:
    """A unit's output: a counter for its source references and a buffer of pending lines."""

    unit: str
    kind: str
    prefix: str
    records: int = 0
    lines: list[str] = field(default_factory=list)

    def emit(self, item: str, subject: str, day: str, attributes: str) -> str:
        self.records += 1
        ref = f"{self.prefix}-{self.records}"
        self.lines.append(
            f'{{"source_ref":"{ref}","item":"{item}",{subject},"occurred_at":"{day}","attributes":{attributes}}}\n'
        )
        return ref


class Emitter:
    """Draws and formats every record of one resident at a time, in a fixed order."""

    def __init__(self, rng: random.Random, days: DayTable, sinks: dict[str, UnitSink]) -> None:
        self._rng = rng
        self._r = rng.random
        self._days = days
        self._today = days.today
        self._sinks = sinks
        self._in_force = min(date(*a.MEASURE_IN_FORCE).toordinal(), days.today)
        self._band_values, self._band_cdf = weighted([((lo, hi), share) for lo, hi, share in a.PROVINCIAL_BANDS])
        self._pledge_units = expand(a.PLEDGE_UNITS)
        self._pledges_cdf = _poisson_cdf(a.PLEDGE_MEAN)
        self._breach_units = {sev: expand(units) for sev, units in a.BREACH_UNITS.items()}
        self._volunteer_attrs = tuple(
            f'{{"hours":{h},"organisation":"{org}"}}' for h in _HOURS_WEIGHTED for org in a.VOLUNTEER_ORGANISATIONS
        )
        self._mu = math.log(a.DONATION_MEDIAN)

    # -- helpers ------------------------------------------------------------------------------
    def _day(self, earliest: int, window: int) -> int:
        """A day ordinal, uniform over the last ``window`` days and not before ``earliest``."""
        span = min(window, self._today - earliest + 1)
        return self._today - int(self._r() * span) if span > 0 else self._today

    def _between(self, first: int, last: int) -> int:
        return first + int(self._r() * (last - first + 1)) if last > first else first

    def _amount(self) -> int:
        value = math.exp(self._mu + a.DONATION_SIGMA * self._rng.gauss(0.0, 1.0))
        return max(1, int(round(value, -1)) if value >= 100 else round(value))

    # -- one resident -------------------------------------------------------------------------
    def resident(self, p: Resident) -> None:
        r = self._r
        adult = p.age >= 18
        self._residency(p)
        if adult:
            if r() < a.AUTH_GRANTED:
                self._authorisation(p, withdraw=True)
            if r() < a.CAPACITY_FINDING:
                self._capacity(p)
            if r() < a.PROVINCIAL_COVERAGE:
                self._evaluation(p)
            unkept = self._pledges(p)
            self._breaches(p, unkept)
            self._honours(p)
        elif p.age >= 14 and r() < a.AUTH_MINOR_GRANTED:
            self._authorisation(p, withdraw=False)
        if (adult or p.age >= 6) and r() < (a.DONATION_ADULT if adult else a.DONATION_MINOR):
            for _ in range(1 + int(r() * 5)):
                self._donation(p, "sx-charity-federation")
        if (adult or p.age >= 10) and r() < (a.VOLUNTEER_ADULT if adult else a.VOLUNTEER_MINOR):
            for _ in range(1 + int(r() * 20)):
                self._volunteer(p, "sx-volunteer-federation")
        if adult and r() < a.SELF_REPORT:
            kind = int(r() * 3)
            if kind == 0:
                self._volunteer(p, "sx-self-report")
            elif kind == 1:
                self._donation(p, "sx-self-report")
            else:
                self._honour(p, "county", "sx-self-report")

    def _residency(self, p: Resident) -> None:
        r, days, today = self._r, self._days, self._today
        if p.status == HOUSEHOLD:
            since = p.birth if r() < 0.6 else self._between(p.birth, today)
            attrs = '{"status":"household_registration"}'
        elif p.status == MOVED_AWAY:
            since = self._day(p.birth, _WINDOW_10Y)
            attrs = '{"status":"moved_away"}'
        else:
            if r() < a.EXPIRED_PERMIT:
                since = max(p.birth, today - 366 - int(r() * 730))
            else:
                since = max(p.birth, today - int(r() * 365))
            attrs = f'{{"status":"residence_permit","valid_until":"{days[since + 365]}"}}'
        self._sinks["sx-public-security"].emit("residency", p.subject, days[since], attrs)

    def _authorisation(self, p: Resident, *, withdraw: bool) -> None:
        r, sink = self._r, self._sinks["sx-credit-center"]
        granted = self._day(max(self._in_force, p.adult_from if withdraw else p.birth), 4 * 365)
        channel = _AUTH_CHANNELS[int(r() * len(_AUTH_CHANNELS))]
        attrs = f'{{"decision":"granted","channel":"{channel}"}}'
        sink.emit("scoring_authorisation", p.subject, self._days[granted], attrs)
        if withdraw and r() < a.AUTH_WITHDRAWN:
            channel = _AUTH_CHANNELS[int(r() * len(_AUTH_CHANNELS))]
            attrs = f'{{"decision":"withdrawn","channel":"{channel}"}}'
            sink.emit("scoring_authorisation", p.subject, self._days[self._between(granted, self._today)], attrs)

    def _capacity(self, p: Resident) -> None:
        r, days, sink = self._r, self._days, self._sinks["sx-intermediate-court"]
        found = self._day(p.adult_from, _WINDOW_10Y)
        capacity = "limited" if r() < 0.75 else "none"
        ref = f"({days[found][:4]})浙06民特{1 + int(r() * 900)}号"
        sink.emit("civil_capacity", p.subject, days[found], f'{{"capacity":"{capacity}","judgment_ref":"{ref}"}}')
        if r() < a.CAPACITY_RESTORED and found < self._today:
            restored = self._between(found + 1, self._today)
            ref = f"({days[restored][:4]})浙06民特{1 + int(r() * 900)}号"
            sink.emit("civil_capacity", p.subject, days[restored], f'{{"capacity":"full","judgment_ref":"{ref}"}}')

    def _evaluation(self, p: Resident) -> None:
        lo, hi = self._band_values[bisect_right(self._band_cdf, self._r())]
        score = lo + int(self._r() * (hi - lo + 1))
        day = self._days[self._day(p.adult_from, 365)]
        attrs = f'{{"score":{score},"edition":"{day[:4]}"}}'
        self._sinks["zj-credit-platform"].emit("provincial_evaluation", p.subject, day, attrs)

    def _pledges(self, p: Resident) -> list[tuple[str, str, int]]:
        """Pledges and their fulfilment; returns the unkept ones as (unit, source_ref, day)."""
        r, days, today = self._r, self._days, self._today
        unkept: list[tuple[str, str, int]] = []
        earliest = max(p.adult_from, today - 4 * 365)
        for _ in range(bisect_right(self._pledges_cdf, r())):
            unit = self._pledge_units[int(r() * len(self._pledge_units))]
            templates = a.PLEDGE_TEMPLATES[unit]
            pledge_type, template = templates[int(r() * len(templates))]
            sink = self._sinks[unit]
            attrs = f'{{"pledge_type":"{pledge_type}","template":"{template}"}}'
            if r() < a.PLEDGE_KEPT and earliest <= today - 30:
                made = self._between(earliest, today - 30)
                ref = sink.emit("pledge_made", p.subject, days[made], attrs)
                end = days[min(made + 30 + int(r() * 336), today)]
                sink.emit("pledge_kept", p.subject, end, f'{{"pledge_ref":"{ref}","period_end":"{end}"}}')
            else:
                made = self._day(earliest, 4 * 365)
                unkept.append((unit, sink.emit("pledge_made", p.subject, days[made], attrs), made))
        return unkept

    def _breaches(self, p: Resident, unkept: list[tuple[str, str, int]]) -> None:
        r, days = self._r, self._days
        for severity, rate in a.BREACH_RATES:
            if r() >= rate:
                continue
            units = self._breach_units[severity]
            unit = units[int(r() * len(units))]
            categories = a.BREACH_CATEGORIES[unit]
            category = categories[int(r() * len(categories))]
            cited = [(ref, made) for u, ref, made in unkept if u == unit]
            if cited and r() < 0.5:
                ref, made = cited[0]
                day = self._between(made, self._today)
                link = f',"pledge_ref":"{ref}"'
            else:
                day = self._day(p.adult_from, _WINDOW_6Y)
                link = ""
            decision = _DECISION_REFS[unit].format(y=days[day][:4], n=1 + int(r() * 3000))
            attrs = f'{{"severity":"{severity}","decision_ref":"{decision}","category":"{category}"{link}}}'
            self._sinks[unit].emit("pledge_breach", p.subject, days[day], attrs)

    def _honours(self, p: Resident) -> None:
        for level, rate in a.HONOUR_RATES:
            if self._r() < rate:
                self._honour(p, level, "sx-civil-affairs")

    def _honour(self, p: Resident, level: str, unit: str) -> None:
        titles = a.HONOUR_TITLES[level]
        title = titles[int(self._r() * len(titles))]
        if level == "county":
            title = p.district + title
        day = self._days[self._day(p.adult_from, _WINDOW_6Y)]
        self._sinks[unit].emit("honour", p.subject, day, f'{{"level":"{level}","title":"{title}"}}')

    def _donation(self, p: Resident, unit: str) -> None:
        r = self._r
        recipient = a.DONATION_RECIPIENTS[int(r() * len(a.DONATION_RECIPIENTS))]
        day = self._days[self._day(p.birth + 6 * 365, _WINDOW_3Y)]
        attrs = f'{{"amount_yuan":{self._amount()},"recipient":"{recipient}"}}'
        self._sinks[unit].emit("donation", p.subject, day, attrs)

    def _volunteer(self, p: Resident, unit: str) -> None:
        attrs = self._volunteer_attrs[int(self._r() * len(self._volunteer_attrs))]
        day = self._days[self._day(p.birth + 10 * 365, _WINDOW_3Y)]
        self._sinks[unit].emit("volunteer_service", p.subject, day, attrs)
