"""The score history's breakdown text is exactly the JSON of the breakdown, and what is stored
reads back as written on either database."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from gateway.clock import utcnow
from gateway.scoring import RecordInput, ScoringInputs, compute
from gateway.services.context import Gateway
from gateway.store import scores as scores_store
from gateway.store.people import NewPerson, ensure_people
from gateway.store.scores import _breakdown_text
from gateway.store.tables import score_history

AS_OF = date(2026, 6, 1)


def _result(gw: Gateway):  # type: ignore[no-untyped-def]
    records = [
        RecordInput("r:1", "scoring_authorisation", "valid", date(2025, 1, 1), code="granted"),
        RecordInput("r:2", "residency", "valid", date(2020, 1, 1), code="household_registration"),
        RecordInput("p:3", "provincial_evaluation", "valid", date(2026, 1, 1), number=823.0),
        RecordInput("r:4", "pledge_breach", "valid", date(2026, 3, 1), code="minor"),
        RecordInput("r:5", "volunteer_service", "valid", date(2026, 2, 1), number=7.5),
    ]
    return compute(ScoringInputs(date(1980, 1, 1), records), gw.model, AS_OF)


def test_breakdown_text_is_the_json_of_the_breakdown(gw: Gateway) -> None:
    result = _result(gw)
    expected = [
        {
            "indicator": r.code,
            "family": r.family,
            "points": r.points,
            "uncapped_points": r.uncapped_points,
            "capped": r.capped,
            "records": list(r.records),
        }
        for r in result.breakdown
    ]
    assert json.loads(_breakdown_text(result)) == expected
    assert any(e["records"] for e in expected) and any(e["points"] < 0 for e in expected)


def test_stored_results_read_back(gw: Gateway) -> None:
    result = _result(gw)
    with gw.engine.begin() as conn:
        people = ensure_people(conn, [NewPerson("a" * 64, "b" * 64, "张*", date(1980, 1, 1))])
        pid = people["a" * 64].id
        scores_store.store_results(conn, [(pid, result)], computed_at=utcnow(), trigger="test")
        scores_store.store_results(conn, [(pid, result)], computed_at=utcnow(), trigger="again")
    with gw.engine.connect() as conn:
        current = scores_store.get_current(conn, pid)
        assert current is not None and current.score == result.score and current.as_of == AS_OF
        history = scores_store.get_history_row(conn, current.score_id)
        triggers = [t for (t,) in conn.execute(select(score_history.c.trigger).order_by(score_history.c.id))]
    assert history is not None and history["trigger"] == "again" and history["breakdown"][0]["indicator"]
    assert triggers == ["test", "again"]
