"""The benchmark harness runs end to end on a tiny population and writes a complete report.

A smoke test, not a benchmark: nothing here asserts a time or a rate. It uses the bundled httpx
driver so that it runs the same whether or not wrk is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.driver import Request, _lua_string, check_loopback, parse_wrk_done, percentile
from bench.run import REPORT_KEYS, main

RUN_KEYS = {"driver", "mode", "requests", "rps", "p50_ms", "p99_ms", "non_2xx", "errors"}


def test_the_harness_writes_a_complete_report_for_a_tiny_population(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    argv = ["--residents", "80", "--subjects", "5", "--workers", "1", "--driver", "httpx", "--connections", "4"]
    argv += ["--duration", "0.4", "--warmup", "0.1", "--ingest-workers", "1", "--ingest-concurrency", "1"]
    argv += ["--quiet-wait", "0", "--data-dir", str(tmp_path / "data"), "--out", str(out)]

    assert main(argv, log=lambda _msg: None) == 0

    (path,) = out.glob("*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert set(REPORT_KEYS) <= report.keys()
    assert {"gateway_ops_per_s", "reference_ops_per_s", "ratio"} <= report["presentation"].keys()  # issue 10
    assert report["load_generator"]["name"] == "httpx"
    assert {"nproc", "cpu_model", "memory_gib"} <= report["machine"].keys()
    assert {"python", "fastapi", "uvicorn", "pyjwt", "sqlalchemy"} <= report["versions"].keys()
    assert {"loop", "http"} <= report["server"].keys()
    # The gateway and its reference announced the same loop and HTTP implementation (issue 12).
    pair = report["server"]["per_run"]["1"]
    assert pair["gateway"] == pair["reference"] and {"loop", "http"} <= pair["gateway"].keys()
    assert {"records", "records_per_s", "accepted"} <= report["ingestion"].keys()
    assert {"seconds", "peak_rss_mib", "plain_read", "extrapolated_1m_s"} <= report["recompute"].keys()
    runs = report["http"]["runs"]["1"]
    assert {"ref_sign", "issuance", "ref_verify", "ref_jwks", "jwks", "issuance_half_rate"} <= runs.keys()
    for run in runs.values():
        assert run.keys() >= RUN_KEYS
    assert runs["issuance"]["requests"] > 0
    assert report["ratios"]["1"]["issuance"]["reference"] == "ref_sign"
    assert "1" in report["latency_at_half_rate"]
    assert {t["target"] for t in report["targets"]} >= {"issuance", "ingestion over HTTP", "recompute 1M residents"}
    # issue 12: gateway serve's absolute throughput on both stacks, or why only one was measured.
    stacks = report["serving_stacks"]
    measured = [k for k in ("uvloop+httptools", "asyncio+h11") if stacks.get(k, {}).get("issuance", 0) > 0]
    assert len(measured) == 2 or (len(measured) == 1 and "not installed" in stacks["note"])


def test_wrk_summary_and_lua_strings() -> None:
    line = 'BENCH-WRK-JSON {"requests":10,"duration_us":1000000,"connect":0,"read":0,"write":0,"status":2,'
    line += '"timeout":0,"p50":900,"p90":1500,"p99":2100,"max":4000}'
    assert parse_wrk_done("Running 1s test\n" + line + "\n")["p99"] == 2100
    # A decimal escape shorter than three digits would swallow the digit after it.
    assert _lua_string('"1中'.encode()) == '"\\0341\\228\\184\\173"'
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([], 99) is None


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://example.org/", "http://192.168.1.5:8000/x"])
def test_the_driver_targets_loopback_only(url: str) -> None:
    with pytest.raises(ValueError):
        check_loopback(url)
    check_loopback("http://127.0.0.1:8000/")
    assert Request("GET", "http://127.0.0.1:1/").bodies == ()
