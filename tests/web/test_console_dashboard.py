"""The dashboard's figures: counts by tier and level, not scored by reason, per partner and per day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import insert, select

from gateway.clock import CHINA_STANDARD_TIME, today_in_shaoxing, utcnow
from gateway.services.context import Gateway
from gateway.services.web.dashboard import dashboard
from gateway.store.tables import eligibility_decisions, recognitions, score_history
from tests.web.conftest import enrol


def test_dashboard_counts(gw: Gateway) -> None:
    enrol(gw, 601, "张三")
    enrol(gw, 602, "李四")
    now = utcnow()
    with gw.engine.begin() as conn:
        for i in range(3):
            conn.execute(
                insert(recognitions).values(
                    caller="hangzhou-credit",
                    assertion_issuer="https://x",
                    assertion_jti=f"a{i}",
                    common_level="fair",
                    crosswalks=[],
                    at=now,
                )
            )
        conn.execute(
            insert(eligibility_decisions).values(
                jti="d1",
                caller="sx-example-bank",
                programme_id="p",
                assertion_jti="a0",
                eligible=True,
                level="fair",
                at=now,
            )
        )
    data = dashboard(gw)
    assert sum(data["by_tier"].values()) == 2 and sum(data["by_level"].values()) == 2
    assert data["scored_today"] >= 2
    assert {p["partner"]: p["recognitions"] for p in data["per_partner"]} == {"hangzhou-credit": 3}
    assert data["eligibility"] == [{"programme": "p", "eligible": 1, "not_eligible": 0}]
    daily = {(d["partner"], d["recognitions"], d["decisions"]) for d in data["daily"]}
    assert daily == {("hangzhou-credit", 3, 0), ("sx-example-bank", 0, 1)}
    assert all(len(d["day"]) == 10 for d in data["daily"])
    units = {u["unit"]: u["records"] for u in data["units"]}
    assert units and all(n > 0 for n in units.values())


def test_today_and_per_day_are_shaoxing_days_not_utc_days(gw: Gateway) -> None:
    """00:30 in Shaoxing is 16:30 UTC the day before: it belongs to the Shaoxing day it happened on."""
    enrol(gw, 611, "王五")
    today = today_in_shaoxing()
    midnight = datetime.combine(today, time(0), tzinfo=CHINA_STANDARD_TIME)
    early_today, late_yesterday = midnight + timedelta(minutes=30), midnight - timedelta(minutes=30)
    assert early_today.astimezone(UTC).date() == late_yesterday.astimezone(UTC).date()  # same UTC day
    with gw.engine.begin() as conn:
        for i, at in enumerate((early_today, late_yesterday, late_yesterday)):
            conn.execute(
                insert(recognitions).values(
                    caller="jiaxing-credit",
                    assertion_issuer="https://x",
                    assertion_jti=f"tz{i}",
                    common_level="fair",
                    crosswalks=[],
                    at=at.astimezone(UTC),
                )
            )
        person_id = conn.execute(select(score_history.c.person_id)).scalars().first()
        baseline = dashboard(gw)["scored_today"]
        for at in (early_today, late_yesterday):
            conn.execute(
                insert(score_history).values(
                    person_id=person_id,
                    computed_at=at.astimezone(UTC),
                    as_of=today,
                    model_version="t",
                    trigger="test",
                    eligible=False,
                    breakdown=[],
                )
            )
    data = dashboard(gw)
    days = {d["day"]: d["recognitions"] for d in data["daily"] if d["partner"] == "jiaxing-credit"}
    assert days == {today.isoformat(): 1, (today - timedelta(days=1)).isoformat(): 2}
    assert data["scored_today"] == baseline + 1  # 00:30 today counts, 23:30 yesterday does not
