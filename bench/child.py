"""Measurements that run in a process of their own, so that ``getrusage`` reports their peak memory
and nothing the harness itself holds: ``python -m bench.child recompute|plain-read``.

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


def _ru_maxrss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def recompute() -> dict[str, Any]:
    from gateway.config import Settings
    from gateway.services.context import Gateway
    from gateway.services.scoring import recompute_all

    gw = Gateway.build(Settings.from_env())
    before = _peak_mib()
    try:
        report = recompute_all(gw, trigger="recompute")
    finally:
        gw.close()
    return {
        "people": report.people,
        "eligible": report.eligible,
        "seconds": round(report.seconds, 3),
        "chunk": gw.settings.recompute_chunk,
        "model_version": report.model_version,
        "peak_rss_mib": _peak_mib(),
        "rss_before_mib": before,
        "ru_maxrss_mib": _ru_maxrss_mib(),
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


def plain_read() -> dict[str, Any]:
    """Read the rows a full recompute reads, with plain ``sqlite3`` and no other work."""
    from gateway.config import Settings

    settings = Settings.from_env()
    url = settings.effective_database_url
    if not url.startswith("sqlite:///"):
        return {"skipped": "the plain-read reference is for the embedded SQLite database"}
    chunk = settings.recompute_chunk
    before = _peak_mib()
    started = time.perf_counter()
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    people = records = 0
    last = 0
    while True:
        rows = conn.execute(_PEOPLE, (last, chunk)).fetchall()
        if not rows:
            break
        people += len(rows)
        first, last = rows[0][0], rows[-1][0]
        records += len(conn.execute(_RECORDS, (first, last)).fetchall())
        records += len(conn.execute(_EVALUATIONS, (first, last)).fetchall())
    conn.close()
    return {
        "people": people,
        "records": records,
        "seconds": round(time.perf_counter() - started, 3),
        "chunk": chunk,
        "peak_rss_mib": _peak_mib(),
        "rss_before_mib": before,
        "ru_maxrss_mib": _ru_maxrss_mib(),
    }


def main(argv: list[str]) -> int:
    jobs = {"recompute": recompute, "plain-read": plain_read}
    if len(argv) != 1 or argv[0] not in jobs:
        print("usage: python -m bench.child recompute|plain-read", file=sys.stderr)
        return 2
    print(json.dumps(jobs[argv[0]]()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
