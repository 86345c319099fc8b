"""Issue 12, the batch half: what the faster ingestion and recompute paths must still guarantee.

- a body that may hold refused text is still walked (the clean-body shortcut only skips bodies
  that cannot hold any);
- a recompute writes a history row only for a changed result, confirms the others' ``as_of``,
  gives the same results with scoring processes as in process, and keeps a score that a
  concurrent rescoring wrote between its read and its write;
- the harness's loader writes a population that scores exactly as the ingested one.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.scoring import ScoringModel
from gateway.services.context import Gateway, today_in_shaoxing
from gateway.services.scores import scoring
from gateway.services.scores.ingestion import ingest_batch, parse_batch
from gateway.services.scores.scoring import recompute_all
from gateway.store.tables import current_scores, people, score_history
from tests.support import basic_records, make_id, record
from tests.test_supersession import _breach, _shifted_model

NDJSON = "application/x-ndjson"


def _body(records: list[dict[str, object]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


def test_only_a_body_that_cannot_hold_refused_text_skips_the_walk(gw: Gateway) -> None:
    ok = record("provincial_evaluation", {"score": 800, "edition": "2026"}, ref="pe-ok", id_number=make_id(seq=31))
    assert parse_batch(_body([ok]), NDJSON, max_records=10).clean
    unit = gw.partners.enabled("zj-credit-platform")
    assert unit is not None
    # json.dumps writes U+0008 and U+000C as the short escapes \b and \f: C0 controls all the same.
    cases = (("del", "20\x7f26"), ("c1", "20\x8526"), ("escaped", "20\x0026"), ("bs", "20\x0826"), ("ff", "20\x0c26"))
    for ref, edition in cases:
        bad = record("provincial_evaluation", {"score": 800, "edition": edition}, ref=ref, id_number=make_id(seq=32))
        body = _body([bad]) if ref != "escaped" else json.dumps(bad).encode()  # NUL only as \u0000
        batch = parse_batch(body, NDJSON, max_records=10)
        assert not batch.clean
        result = ingest_batch(gw, unit, batch)
        assert [r.code for r in result.rejected] == ["invalid_text"], ref


def _ingest_people(gw: Gateway, count: int, first_seq: int = 400) -> None:
    for i in range(count):
        for unit_id, batch in basic_records(make_id(seq=first_seq + i), "王五", f"bp{i}").items():
            unit = gw.partners.enabled(unit_id)
            assert unit is not None
            ingest_batch(gw, unit, batch)


def _scores(gw: Gateway) -> dict[int, tuple[bool, int | None, str | None]]:
    with gw.engine.connect() as conn:
        rows = conn.execute(select(current_scores.c.person_id, current_scores.c.eligible, current_scores.c.score,
                                   current_scores.c.tier))  # fmt: skip
        return {r.person_id: (r.eligible, r.score, r.tier) for r in rows}


def _history_rows(gw: Gateway) -> int:
    with gw.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(score_history)).scalar_one())


@pytest.mark.parametrize("workers", [1, 2])
def test_a_recompute_writes_only_changed_results(gw: Gateway, workers: int) -> None:
    _ingest_people(gw, 5)
    before, history = _scores(gw), _history_rows(gw)
    tomorrow = today_in_shaoxing() + timedelta(days=1)
    report = recompute_all(gw, chunk=2, workers=workers, as_of=tomorrow)
    assert report.people == 5 and report.changed == 0 and report.workers == workers
    assert _scores(gw) == before and _history_rows(gw) == history  # nothing appended
    with gw.engine.connect() as conn:
        assert set(conn.execute(select(current_scores.c.as_of)).scalars()) == {tomorrow}  # confirmed


def test_scoring_processes_give_the_in_process_results(gw: Gateway) -> None:
    _ingest_people(gw, 5)
    gw.model = _shifted(gw)
    recompute_all(gw, chunk=2, workers=2)
    in_workers = _scores(gw)
    with gw.engine.begin() as conn:
        conn.execute(current_scores.delete())
    report = recompute_all(gw, chunk=2, workers=1)
    assert report.changed == 5 and _scores(gw) == in_workers


def _shifted(gw: Gateway) -> ScoringModel:
    return _shifted_model(gw)


def test_a_rescoring_between_read_and_write_is_kept(gw: Gateway) -> None:
    _ingest_people(gw, 2)
    with gw.engine.connect() as conn:
        first, last = conn.execute(select(func.min(people.c.id), func.max(people.c.id))).one()
    gw.model = _shifted(gw)  # every result differs from the stored one: the chunk wants to write both
    with gw.engine.connect() as conn:
        scored = scoring._score_range(conn, gw.model, first, last, today_in_shaoxing())
    assert len(scored.changed) == 2
    # Meanwhile an ingestion rescored the first person (under the new model, with a new record).
    court = gw.partners.enabled("sx-intermediate-court")
    assert court is not None
    fresh_result = ingest_batch(gw, court, [_breach(make_id(seq=400), "王五", "bp-race", "grave")])
    assert fresh_result.accepted == [0]
    fresh = _scores(gw)
    scoring._write_scored(gw, scored, today_in_shaoxing(), "recompute")
    after = _scores(gw)
    with gw.engine.connect() as conn:
        pid_first = conn.execute(select(func.min(people.c.id))).scalar_one()
    assert after[pid_first] == fresh[pid_first]  # the fresher score stands
    assert after[last] == (scored.changed[-1].eligible, scored.changed[-1].score, scored.changed[-1].tier)


def test_the_loader_writes_what_ingestion_would(tmp_path: Path) -> None:
    from bench.loader import load_population
    from bench.population import generate_population, ingest_in_process
    from bench.run import bench_env
    from gateway.config import Settings

    population = tmp_path / "population"
    generate_population(60, 7, population)
    ingested, loaded = tmp_path / "ingested", tmp_path / "loaded"
    ingest_in_process(Settings.from_env(bench_env(ingested, None)), population)
    loaded.mkdir()
    shutil.copytree(ingested / "secrets", loaded / "secrets")  # the same pepper: the same id hashes
    out = load_population(Settings.from_env(bench_env(loaded, None)), population)
    assert out["people"] == 60

    def scored(data_dir: Path) -> dict[str, tuple[bool, int | None, str | None]]:
        gw = Gateway.build(Settings.from_env(bench_env(data_dir, None)), background_refresh=False)
        try:
            recompute_all(gw, workers=1)
            with gw.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        people.c.id_hash, current_scores.c.eligible, current_scores.c.score, current_scores.c.tier
                    ).join(current_scores, current_scores.c.person_id == people.c.id)
                )
                return {r.id_hash: (r.eligible, r.score, r.tier) for r in rows}
        finally:
            gw.close()

    assert scored(ingested) == scored(loaded)
