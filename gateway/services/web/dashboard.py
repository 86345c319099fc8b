"""The console's dashboard figures: aggregate counts only, read in one read-only transaction.

Serves the office's oversight of the scheme (measure 四(三), the credit office supervises scoring
and use): how many residents hold each tier and common level, how many were scored today and why
others were not, what was disclosed to whom, what partners recognised and decided, and how each
collaborating unit's data arrives. Every figure is a GROUP BY count; no person appears. "Today" and
"per day" are Shaoxing days (Asia/Shanghai, UTC+8), not UTC days: the office's working day.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from gateway.clock import CHINA_STANDARD_TIME, as_utc, today_in_shaoxing
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import local_scheme_id
from gateway.store.engine import reader
from gateway.store.tables import (
    current_scores,
    disclosures,
    eligibility_decisions,
    information_records,
    recognitions,
    score_history,
)

__all__ = ["dashboard"]

_DAYS = 14  # the per-day figures cover the last two weeks, by Shaoxing day (Asia/Shanghai, UTC+8)


def _start_of_today() -> datetime:
    # Midnight in Shaoxing as an aware UTC time (compared in UTC: SQLite keeps wall-clock times).
    return datetime.combine(today_in_shaoxing(), time(0), tzinfo=CHINA_STANDARD_TIME).astimezone(UTC)


def _shaoxing_day(conn: Connection, column: Any) -> Any:
    """The Shaoxing calendar day of a stored time, computed in the database so rows are counted there.

    PostgreSQL stores ``timestamptz`` and converts by zone name; SQLite stores the UTC wall-clock
    text, shifted by the fixed +8 hours (China has kept one offset, without summer time, since 1991).
    """
    if conn.dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")


def dashboard(gw: Gateway) -> dict[str, Any]:
    cs, d, r, e, ir, sh = (
        current_scores,
        disclosures,
        recognitions,
        eligibility_decisions,
        information_records,
        score_history,
    )
    with reader(gw.engine).connect() as conn:
        tiers = conn.execute(
            select(cs.c.model_version, cs.c.tier, func.count())
            .where(cs.c.eligible.is_(True), cs.c.tier.is_not(None))
            .group_by(cs.c.model_version, cs.c.tier)
        ).all()
        not_scored = conn.execute(
            select(cs.c.reason, func.count()).where(cs.c.eligible.is_(False)).group_by(cs.c.reason)
        ).all()
        scored_today = conn.execute(
            select(func.count()).select_from(sh).where(sh.c.computed_at >= _start_of_today())
        ).scalar_one()
        assertions = conn.execute(select(d.c.audience, func.count()).group_by(d.c.audience)).all()
        recognised = conn.execute(select(r.c.caller, func.count()).group_by(r.c.caller)).all()
        decisions = conn.execute(
            select(e.c.programme_id, func.sum(case((e.c.eligible.is_(True), 1), else_=0)), func.count()).group_by(
                e.c.programme_id
            )
        ).all()
        units = conn.execute(
            select(
                ir.c.unit_id,
                func.count(),
                func.sum(case((ir.c.status != "valid", 1), else_=0)),
                func.max(ir.c.received_at),
            ).group_by(ir.c.unit_id)
        ).all()
        since = _start_of_today() - timedelta(days=_DAYS - 1)  # whole Shaoxing days, today included
        r_day, e_day = _shaoxing_day(conn, r.c.at), _shaoxing_day(conn, e.c.at)
        recognised_daily = conn.execute(
            select(r.c.caller, r_day, func.count()).where(r.c.at >= since).group_by(r.c.caller, r_day)
        ).all()
        decided_daily = conn.execute(
            select(e.c.caller, e_day, func.count()).where(e.c.at >= since).group_by(e.c.caller, e_day)
        ).all()
        conn.rollback()
    by_tier: dict[str, int] = {}
    by_level: dict[str, int] = {}
    for model_version, tier, n in tiers:
        by_tier[tier] = by_tier.get(tier, 0) + int(n)
        crosswalk = gw.mappings.crosswalk_for(local_scheme_id(model_version))
        level = crosswalk.common_level(tier, None) if crosswalk is not None else "unrated"
        by_level[level] = by_level.get(level, 0) + int(n)
    partners = sorted({a for a, _ in assertions} | {c for c, _ in recognised})
    assertion_counts: dict[str, int] = {a: int(n) for a, n in assertions}
    recognition_counts: dict[str, int] = {c: int(n) for c, n in recognised}
    daily: dict[tuple[str, str], dict[str, int]] = {}
    for kind, rows in (("recognitions", recognised_daily), ("decisions", decided_daily)):
        for caller, day, n in rows:
            entry = daily.setdefault((str(day)[:10], caller), {"recognitions": 0, "decisions": 0})
            entry[kind] += int(n)
    return {
        "daily": [{"day": day, "partner": caller, **counts} for (day, caller), counts in sorted(daily.items())],
        "by_tier": dict(sorted(by_tier.items())),
        "by_level": by_level,
        "not_scored": {str(reason or "unknown"): int(n) for reason, n in not_scored},
        "scored_today": int(scored_today),
        "assertions_total": sum(int(n) for _, n in assertions),
        "per_partner": [
            {
                "partner": p,
                "assertions": int(assertion_counts.get(p, 0)),
                "recognitions": int(recognition_counts.get(p, 0)),
            }
            for p in partners
        ],
        "eligibility": [
            {"programme": p, "eligible": int(y or 0), "not_eligible": int(n) - int(y or 0)} for p, y, n in decisions
        ],
        "units": [
            {
                "unit": unit,
                "records": int(n),
                "not_valid": int(bad or 0),
                "last": as_utc(last).isoformat(timespec="minutes") if last else None,
            }
            for unit, n, bad, last in units
        ],
    }
