"""Ingestion: partial batches, idempotency, grants, malformed input, size limits."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from gateway.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType
from gateway.services.context import Gateway
from gateway.services.scores.ingestion import ingest_batch, parse_batch
from gateway.store.tables import (
    audit_log,
    current_scores,
    information_records,
    people,
    provincial_evaluations,
)
from tests.support import basic_records, make_id, record

AS_OF = date(2026, 6, 1)


def _unit(gw: Gateway, unit_id: str):  # type: ignore[no-untyped-def]
    unit = gw.partners.enabled(unit_id)
    assert unit is not None
    return unit


def _count(gw: Gateway, table) -> int:  # type: ignore[no-untyped-def]
    with gw.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_partial_batch_keeps_the_valid_records(gw: Gateway) -> None:
    good_id = make_id(seq=101)
    batch = [
        record("volunteer_service", {"hours": 3}, ref="v-1", id_number=good_id),
        record("volunteer_service", {"hours": 99}, ref="v-2", id_number=good_id),  # over the 24 h maximum
        record("volunteer_service", {"hours": 2}, ref="v-3", id_number=make_id(seq=101)[:17] + "0"),
        "not an object",
        record("volunteer_service", {"hours": 1.5}, ref="v-5", id_number=good_id),
    ]
    result = ingest_batch(gw, _unit(gw, "sx-volunteer-federation"), batch, as_of=AS_OF)
    assert result.accepted == [0, 4]
    assert [(r.index, r.code) for r in result.rejected] == [
        (1, "invalid_attributes"),
        (2, "invalid_id_number"),
        (3, "invalid_record"),
    ]
    assert _count(gw, information_records) == 2
    assert _count(gw, people) == 1


def test_resending_a_batch_changes_nothing(gw: Gateway) -> None:
    idn = make_id(seq=202)
    per_unit = basic_records(idn, "李四", "p202")
    for unit_id, batch in per_unit.items():
        first = ingest_batch(gw, _unit(gw, unit_id), batch, as_of=AS_OF)
        assert len(first.accepted) == len(batch)
    with gw.engine.connect() as conn:
        before = conn.execute(select(information_records.c.id, information_records.c.status)).all()
    scores_before = _count(gw, current_scores)
    for unit_id, batch in per_unit.items():
        again = ingest_batch(gw, _unit(gw, unit_id), batch, as_of=AS_OF)
        assert again.accepted == []
        assert again.duplicates == list(range(len(batch)))
    with gw.engine.connect() as conn:
        after = conn.execute(select(information_records.c.id, information_records.c.status)).all()
    assert before == after
    assert _count(gw, provincial_evaluations) == 1
    assert _count(gw, current_scores) == scores_before == 1


def test_same_reference_twice_in_one_batch_counts_once(gw: Gateway) -> None:
    batch = [
        record("donation", {"amount_yuan": 100}, ref="d-1"),
        record("donation", {"amount_yuan": 900}, ref="d-1"),
    ]
    result = ingest_batch(gw, _unit(gw, "sx-charity-federation"), batch, as_of=AS_OF)
    assert result.accepted == [0] and result.duplicates == [1]
    with gw.engine.connect() as conn:
        assert conn.execute(select(information_records.c.value_number)).scalar_one() == 100


def test_item_not_granted_to_the_unit_is_rejected(gw: Gateway) -> None:
    # The water utility may report breaches and pledges, never honours.
    batch = [record("honour", {"level": "national", "title": "全国劳动模范"}, ref="h-1")]
    result = ingest_batch(gw, _unit(gw, "sx-water-utility"), batch, as_of=AS_OF)
    assert [(r.index, r.code) for r in result.rejected] == [(0, "item_not_granted")]
    assert _count(gw, information_records) == 0


def test_unknown_catalogue_item_is_rejected(gw: Gateway) -> None:
    batch = [record("blood_donation", {"ml": 400}, ref="b-1")]
    result = ingest_batch(gw, _unit(gw, "sx-civil-affairs"), batch, as_of=AS_OF)
    assert [(r.index, r.code) for r in result.rejected] == [(0, "unknown_item")]


def test_future_dates_are_rejected(gw: Gateway) -> None:
    batch = [record("donation", {"amount_yuan": 10}, ref="f-1", occurred_at="2026-06-03")]
    result = ingest_batch(gw, _unit(gw, "sx-charity-federation"), batch, as_of=AS_OF)
    assert [r.code for r in result.rejected] == ["future_date"]


def test_self_reports_start_pending_and_do_not_count(gw: Gateway) -> None:
    idn = make_id(seq=303)
    for unit_id, batch in basic_records(idn, "王五", "p303").items():
        ingest_batch(gw, _unit(gw, unit_id), batch, as_of=AS_OF)
    with gw.engine.connect() as conn:
        before = conn.execute(select(current_scores.c.score)).scalar_one()
    batch = [record("volunteer_service", {"hours": 20}, ref="s-1", id_number=idn, name="王五")]
    result = ingest_batch(gw, _unit(gw, "sx-self-report"), batch, as_of=AS_OF)
    assert result.accepted == [0]
    with gw.engine.connect() as conn:
        assert (
            conn.execute(
                select(information_records.c.status).where(information_records.c.source_ref == "s-1")
            ).scalar_one()
            == "pending"
        )
        assert conn.execute(select(current_scores.c.score)).scalar_one() == before


def test_name_mismatch_is_refused_without_saying_why(gw: Gateway) -> None:
    idn = make_id(seq=404)
    ingest_batch(
        gw,
        _unit(gw, "sx-charity-federation"),
        [record("donation", {"amount_yuan": 10}, ref="n-1", id_number=idn, name="赵六")],
        as_of=AS_OF,
    )
    result = ingest_batch(
        gw,
        _unit(gw, "sx-charity-federation"),
        [record("donation", {"amount_yuan": 10}, ref="n-2", id_number=idn, name="钱七")],
        as_of=AS_OF,
    )
    assert [(r.code, r.reason) for r in result.rejected] == [("subject_mismatch", "The subject could not be matched.")]


def test_every_batch_is_audited(gw: Gateway) -> None:
    ingest_batch(
        gw,
        _unit(gw, "sx-charity-federation"),
        [record("donation", {"amount_yuan": 5}, ref="a-1")],
        as_of=AS_OF,
    )
    with gw.engine.connect() as conn:
        row = conn.execute(select(audit_log.c.actor_id, audit_log.c.action, audit_log.c.details)).one()
    assert row.actor_id == "sx-charity-federation" and row.action == "ingest.batch"
    assert row.details["accepted"] == 1


def test_parse_batch_json_and_ndjson() -> None:
    recs = [{"a": 1}, {"b": 2}]
    assert parse_batch(json.dumps(recs).encode(), "application/json", max_records=10) == recs
    nd = b'{"a": 1}\n\n{"b": 2}\nnot json\n'
    parsed = parse_batch(nd, "application/x-ndjson; charset=utf-8", max_records=10)
    assert parsed[:2] == recs and len(parsed) == 3


@pytest.mark.parametrize("body", [b"{not json", b'{"an": "object"}', b"\xff\xfe"])
def test_parse_batch_malformed_json(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        parse_batch(body, "application/json", max_records=10)


def test_parse_batch_limits_and_media_types() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_batch(json.dumps([{}] * 11).encode(), "application/json", max_records=10)
    with pytest.raises(PayloadTooLarge):
        parse_batch(b"{}\n" * 11, "application/x-ndjson", max_records=10)
    with pytest.raises(UnsupportedMediaType):
        parse_batch(b"[]", "text/csv", max_records=10)
