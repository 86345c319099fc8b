"""Computing and keeping scores: for the people a change touched, and for everyone.

Scoring a person never issues a query per record: records are read per chunk of people with one
range scan per table, scored in memory by the pure core, and written back with one bulk insert
and one bulk upsert. A full recompute walks people in id order, one transaction per chunk, so
memory stays bounded and other writers are never blocked for long.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, func, select

from gateway.scoring import RecordInput, ScoreResult, ScoringInputs, compute
from gateway.services.context import Gateway, today_in_shaoxing, utcnow
from gateway.services.status_lists import supersede_for_people, supersede_in_range
from gateway.store import people as people_store
from gateway.store import records as records_store
from gateway.store import scores as scores_store
from gateway.store.tables import people

__all__ = ["RecomputeReport", "recompute_all", "recompute_people"]

Progress = Callable[[int, int], None]
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RecomputeReport:
    people: int
    eligible: int
    seconds: float
    model_version: str
    as_of: date


def _score_chunk(
    gw: Gateway, births: dict[int, date], recs: dict[int, list[RecordInput]], as_of: date
) -> list[tuple[int, ScoreResult]]:
    model = gw.model
    empty: list[RecordInput] = []
    return [(pid, compute(ScoringInputs(born, recs.get(pid, empty)), model, as_of)) for pid, born in births.items()]


def recompute_people(
    conn: Connection, gw: Gateway, person_ids: Iterable[int], *, trigger: str, as_of: date | None = None
) -> list[tuple[int, ScoreResult]]:
    """Recompute the given people inside the caller's transaction (so a batch and the scores it
    changes commit together) and return the results."""
    ids = sorted(set(person_ids))
    if not ids:
        return []
    as_of = as_of or today_in_shaoxing()
    births = dict(people_store.birth_dates(conn, ids))
    results = _score_chunk(gw, births, records_store.load_records_for_ids(conn, ids), as_of)
    scores_store.store_results(conn, results, computed_at=utcnow(), trigger=trigger)
    # An assertion that now states a wrong tier or score must not be honoured any longer (四(一), 四(二)).
    supersede_for_people(conn, ids)
    return results


def _without_cyclic_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic garbage collector paused.

    A full recompute allocates millions of short-lived, acyclic tuples and lists that reference
    counting frees on its own; the cyclic collector kept re-scanning them and took a third of the
    run (measured: 9.5 s → 5.9 s for 100,000 residents). Memory stays bounded by the chunk size.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


@_without_cyclic_gc
def recompute_all(
    gw: Gateway,
    *,
    as_of: date | None = None,
    chunk: int | None = None,
    trigger: str = "recompute",
    progress: Progress | None = None,
) -> RecomputeReport:
    """Recompute everyone, streaming ``chunk`` people per transaction."""
    as_of = as_of or today_in_shaoxing()
    chunk = chunk or gw.settings.recompute_chunk
    started = time.perf_counter()
    with gw.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(people)).scalar_one()
        conn.rollback()
    done = eligible = 0
    last_id = 0
    while True:
        with gw.engine.begin() as conn:
            rows = conn.execute(
                select(people.c.id, people.c.birth_date).where(people.c.id > last_id).order_by(people.c.id).limit(chunk)
            ).all()
            if not rows:
                break
            births = {pid: born for pid, born in rows}
            first, last_id = rows[0][0], rows[-1][0]
            # Same lock as every other rescoring path, so a concurrent ingestion's fresher score is
            # not overwritten by this chunk's older read (PostgreSQL; SQLite serialises writers).
            people_store.lock_people(conn, births)
            recs = records_store.load_records_in_range(conn, first, last_id)
            results = _score_chunk(gw, births, recs, as_of)
            scores_store.store_results(conn, results, computed_at=utcnow(), trigger=trigger)
            # One statement per chunk; it only reaches people who hold live assertions.
            supersede_in_range(conn, first, last_id)
        done += len(results)
        eligible += sum(1 for _, r in results if r.eligible)
        if progress:
            progress(done, total)
    return RecomputeReport(
        people=done,
        eligible=eligible,
        seconds=time.perf_counter() - started,
        model_version=gw.model.version,
        as_of=as_of,
    )
