"""The dashboard's figures: counts by tier and level, not scored by reason, per partner and per day."""

from __future__ import annotations

from sqlalchemy import insert

from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.services.web.dashboard import dashboard
from gateway.store.tables import eligibility_decisions, recognitions
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
