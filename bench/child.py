"""Measurements that run in a process of their own, so that ``getrusage`` reports their peak memory
and nothing the harness itself holds: ``python -m bench.child recompute|recompute-next-day|plain-read``.

Both print one JSON object on standard output. The environment (``GATEWAY_DATA_DIR`` …) names the
database, exactly as for the gateway.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "plain_read", "recompute"]


def _peak_mib() -> float:
    """This process's own peak resident memory (VmHWM).

    ``getrusage(RUSAGE_SELF).ru_maxrss`` would do, but Linux carries the high-water mark of the
    address space a process had before ``exec`` into it — here the harness's, forked to start
    this child — so it reports at least the harness's size. VmHWM belongs to the new address
    space only; ``ru_maxrss`` is reported beside it.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return _ru_maxrss_mib()


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 2)


def _ru_maxrss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def recompute(days_ahead: int = 0) -> dict[str, Any]:
    """A full recompute; ``days_ahead`` 1 scores as of tomorrow, as the next nightly run would."""
    from datetime import timedelta

    from gateway.config import Settings
    from gateway.services.context import Gateway, today_in_shaoxing
    from gateway.services.scores.scoring import recompute_all

    gw = Gateway.build(Settings.from_env(), background_refresh=False)
    before = _peak_mib()
    cpu_before = _cpu_s(resource.RUSAGE_SELF)
    try:
        as_of = today_in_shaoxing() + timedelta(days=days_ahead)
        report = recompute_all(gw, trigger="recompute", as_of=as_of)
    finally:
        gw.close()
    return {
        "people": report.people,
        "eligible": report.eligible,
        "changed": report.changed,  # issue 12: only these were written
        "workers": report.workers,
        "seconds": round(report.seconds, 3),
        "chunk": gw.settings.recompute_chunk,
        "model_version": report.model_version,
        "peak_rss_mib": _peak_mib(),
        "rss_before_mib": before,
        "ru_maxrss_mib": _ru_maxrss_mib(),
        # Issue 12: the scoring processes are forked from this one; the largest one's peak (it
        # counts the pages it shares with this process, so the sum below is an upper bound).
        "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        # CPU seconds, which a shared machine stretches less than wall-clock time (issue 12).
        "cpu_s": round(_cpu_s(resource.RUSAGE_SELF) - cpu_before, 2),
        "worker_cpu_s": _cpu_s(resource.RUSAGE_CHILDREN),
        "peak_total_mib_upper_bound": round(
            _peak_mib() + report.workers * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            if report.workers > 1
            else _peak_mib(),
            1,
        ),
    }


# The rows recompute reads, chunk by chunk (see gateway.store.records). "+status" keeps the status
# test from steering SQLite to the (status, item_code) index, which would scan every valid record
# for each chunk: the person_id index is used, as the gateway's own read does.
_PEOPLE = "SELECT id, birth_date FROM people WHERE id > ? ORDER BY id LIMIT ?"
_RECORDS = (
    "SELECT id, person_id, item_code, status, occurred_at, value_number, value_code, valid_until "
    "FROM information_records WHERE person_id >= ? AND person_id <= ? AND +status = 'valid'"
)
_EVALUATIONS = (
    "SELECT id, person_id, status, evaluated_on, score "
    "FROM provincial_evaluations WHERE person_id >= ? AND person_id <= ? AND +status = 'valid'"
)


def _plain_rows_sqlite(path: str, chunk: int) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    people = records = 0
    last = 0
    try:
        while True:
            rows = conn.execute(_PEOPLE, (last, chunk)).fetchall()
            if not rows:
                break
            people += len(rows)
            first, last = rows[0][0], rows[-1][0]
            records += len(conn.execute(_RECORDS, (first, last)).fetchall())
            records += len(conn.execute(_EVALUATIONS, (first, last)).fetchall())
    finally:
        conn.close()
    return people, records


def _plain_rows_postgresql(conninfo: str, chunk: int) -> tuple[int, int]:
    """The same reads with bare psycopg (imported before the clock starts, as sqlite3 is)."""
    import psycopg

    # "+status" is a hint for SQLite's planner only.
    records_sql, evaluations_sql = (q.replace("?", "%s").replace("+status", "status") for q in (_RECORDS, _EVALUATIONS))
    people = records = 0
    last = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        while True:
            rows = cur.execute(_PEOPLE.replace("?", "%s"), (last, chunk)).fetchall()
            if not rows:
                break
            people += len(rows)
            first, last = rows[0][0], rows[-1][0]
            records += len(cur.execute(records_sql, (first, last)).fetchall())
            records += len(cur.execute(evaluations_sql, (first, last)).fetchall())
    return people, records


def plain_read() -> dict[str, Any]:
    """Read the rows a full recompute reads with the bare driver (``sqlite3`` or psycopg) and no
    other work: the reference beside the recompute's time."""
    from gateway.config import Settings

    settings = Settings.from_env()
    url = settings.effective_database_url
    chunk = settings.recompute_chunk
    if url.startswith("sqlite:///"):
        driver = "sqlite3"
    elif url.startswith("postgresql"):
        import psycopg  # noqa: F401 - imported here so that the import is not timed
        from sqlalchemy.engine import make_url

        driver = "psycopg"
        # The URL's query (e.g. options=-csearch_path=…) is kept: libpq takes it as a parameter.
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    else:
        return {"skipped": "the plain-read reference knows SQLite and PostgreSQL only"}
    before = _peak_mib()
    cpu_before = _cpu_s(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if driver == "sqlite3":
        people, records = _plain_rows_sqlite(url.removeprefix("sqlite:///"), chunk)
    else:
        people, records = _plain_rows_postgresql(conninfo, chunk)
    return {
        "driver": driver,
        "people": people,
        "records": records,
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_s": round(_cpu_s(resource.RUSAGE_SELF) - cpu_before, 2),
        "chunk": chunk,
        "peak_rss_mib": _peak_mib(),
        "rss_before_mib": before,
        "ru_maxrss_mib": _ru_maxrss_mib(),
    }


def main(argv: list[str]) -> int:
    jobs = {"recompute": recompute, "recompute-next-day": lambda: recompute(1), "plain-read": plain_read}
    if len(argv) != 1 or argv[0] not in jobs:
        print("usage: python -m bench.child recompute|recompute-next-day|plain-read", file=sys.stderr)
        return 2
    print(json.dumps(jobs[argv[0]]()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
