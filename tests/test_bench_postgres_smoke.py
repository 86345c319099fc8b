"""The harness's ``--database-url`` path runs end to end on PostgreSQL (issue 12).

Shape of the report only, on a tiny population, in a schema of its own (created and dropped here):
nothing asserts a time or a rate.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.run import REPORT_KEYS, main
from tests.conftest import database_url_for


def test_the_harness_runs_end_to_end_on_postgresql(tmp_path: Path) -> None:
    url, cleanup = database_url_for("postgresql", tmp_path)
    out = tmp_path / "reports"
    argv = ["--residents", "60", "--subjects", "4", "--workers", "1", "--driver", "httpx", "--connections", "4"]
    argv += ["--duration", "0.3", "--warmup", "0.1", "--ingest-workers", "1", "--ingest-concurrency", "1"]
    argv += ["--quiet-wait", "0", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--database-url", url]
    try:
        assert main(argv, log=lambda _msg: None) == 0
    finally:
        cleanup()

    (path,) = out.glob("*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert set(REPORT_KEYS) <= report.keys()
    assert report["server"]["database"] == "postgresql"
    assert report["ingestion"]["accepted"] > 0 and not report["ingestion"].get("skipped")
    assert report["recompute"]["people"] == report["population"]["residents"]
    assert report["recompute"]["plain_read"]["people"] == report["population"]["residents"]
    runs = report["http"]["runs"]["1"]
    assert {"ref_sign", "issuance", "ref_verify", "ref_jwks", "jwks", "issuance_half_rate"} <= runs.keys()
    assert runs["issuance"]["requests"] > 0 and runs["issuance"]["non_2xx"] == 0
    assert report["ratios"]["1"]["issuance"]["reference"] == "ref_sign"
    # Both servers announced their loop and HTTP implementation, and they are the same.
    pair = report["server"]["per_run"]["1"]
    assert pair["gateway"] == pair["reference"] and {"loop", "http"} <= pair["gateway"].keys()
    assert report["recompute"]["plain_read"]["driver"] == "psycopg"
