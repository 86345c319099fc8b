"""The batch half of issue 12 in the harness: ingestion against its reference, the recompute against
the plain read, and the 1,000,000-resident recompute measured rather than extrapolated.

Kept out of ``bench/run.py`` (which calls these) so that the request-path work there stays apart.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from gateway.config import Settings

__all__ = [
    "batch_lines",
    "evaluate_batch_targets",
    "ingest_reference_over_http",
    "load_for_recompute",
    "people_in",
]

MEASURED_AT = 1_000_000  # residents: the population, measured, not extrapolated


def people_in(settings: Settings) -> int | None:
    """How many people the run's database holds (None when there is none yet)."""
    from sqlalchemy import text

    from gateway.store.engine import make_engine

    url = settings.effective_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM people")).scalar_one())
    except Exception:  # no schema yet: nothing loaded
        return None
    finally:
        engine.dispose()


def load_for_recompute(settings: Settings, population: Path) -> dict[str, Any]:
    """A recompute-only run's population, written straight into the store (``bench/loader.py``)."""
    from bench.loader import load_population

    return load_population(settings, population)


def ingest_reference_over_http(
    env: dict[str, str], workers: int, concurrency: int, population: Path, log_dir: Path, loop: str, http: str
) -> dict[str, Any]:
    """The same batches, the same clients and the same number of workers, against
    ``bench/ingest_reference.py`` writing into the same database."""
    from bench.ingest_reference import TABLE, start_ingest_reference
    from bench.population import ingest_over_http

    with start_ingest_reference(env, workers, log_dir, loop=loop, http=http) as ref:
        rep = ingest_over_http(ref.base_url, "", population, concurrency, reference=True)
        implementation = ref.implementation()
    out = rep.as_dict(workers=workers, concurrency=concurrency, server=implementation, table=TABLE)
    if rep.failures:
        out["note"] = f"{len(rep.failures)} batches failed"
    return out


def _target(name: str, goal: str, measured: Any, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"target": name, "goal": goal, "measured": measured, "met": met, "note": note}


def evaluate_batch_targets(report: dict[str, Any], targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 12's batch targets in place of issue 6's recompute and ingestion entries."""
    from bench.run import (
        TARGET_INGEST_RATIO,
        TARGET_INGEST_RPS,
        TARGET_RECOMPUTE_PEAK_MIB,
        TARGET_RECOMPUTE_RATIO,
    )

    out = [t for t in targets if t["target"] not in ("recompute 1M residents", "ingestion over HTTP")]
    rc = report.get("recompute", {})
    residents = report.get("population", {}).get("residents") or 0
    if rc.get("seconds") is not None:
        again = rc.get("again", {})
        # The recompute process and its scoring processes together (an upper bound: shared pages
        # are counted in each).
        peak = max(
            rc.get("peak_total_mib_upper_bound") or rc.get("peak_rss_mib") or 0,
            again.get("peak_total_mib_upper_bound") or again.get("peak_rss_mib") or 0,
        )
        plain = rc.get("plain_read", {}).get("seconds")
        measured = residents >= MEASURED_AT
        out.append(
            _target(
                "recompute 1M residents",
                f"measured at {MEASURED_AT:,} residents, peak <= {TARGET_RECOMPUTE_PEAK_MIB:g} MiB, plain read beside",
                {"residents": residents, "seconds": rc["seconds"], "again_s": again.get("seconds"),
                 "peak_mib": peak, "plain_read_s": plain},
                measured and peak <= TARGET_RECOMPUTE_PEAK_MIB if measured else None,
                "measured" if measured else f"not measured here: {residents:,} residents (run --residents 1000000)",
            )
        )  # fmt: skip
        for label, run in (("recompute", rc), ("recompute next day", again)):
            ratio = run.get("ratio_to_plain_read")
            out.append(
                _target(
                    f"{label} ÷ plain read",
                    f"<= {TARGET_RECOMPUTE_RATIO:g}x",
                    ratio,
                    ratio is not None and ratio <= TARGET_RECOMPUTE_RATIO,
                    f"{run.get('changed')} of {run.get('people')} people changed; "
                    f"{run.get('workers')} scoring processes",
                )
            )
    ing = report.get("ingestion", {})
    if ing.get("records_per_s") is not None and not ing.get("skipped"):
        rps = ing["records_per_s"]
        sign = _ref_sign_rps(report)
        note = f"parse + sign reference reached {sign:,.0f} req/s at 1 worker" if sign else "parse + sign not measured"
        out.append(
            _target(
                "ingestion over HTTP", f">= {TARGET_INGEST_RPS:,.0f} records/s", rps, rps >= TARGET_INGEST_RPS, note
            )
        )
        ratio = ing.get("ratio_to_reference")
        ref = ing.get("reference", {}).get("records_per_s")
        out.append(
            _target(
                "ingestion ÷ ingestion reference",
                f">= {TARGET_INGEST_RATIO}x",
                ratio,
                ratio is not None and ratio >= TARGET_INGEST_RATIO,
                f"reference {ref:,.0f} records/s" if ref else "reference not measured",
            )
        )
    return out


def _ref_sign_rps(report: dict[str, Any]) -> float | None:
    with contextlib.suppress(KeyError, TypeError):
        return float(report["http"]["runs"]["1"]["ref_sign"]["rps"])
    return None


def batch_lines(report: dict[str, Any]) -> list[str]:
    """Lines for the printed summary."""
    lines = []
    ref = report.get("ingestion", {}).get("reference", {})
    if ref.get("records_per_s"):
        lines.append(
            f"ingestion reference: {ref['records']:,} records in {ref['seconds']:.1f} s "
            f"= {ref['records_per_s']:,.0f}/s; "
            f"gateway ÷ reference {report['ingestion'].get('ratio_to_reference')}"
        )
    again = report.get("recompute", {}).get("again", {})
    if again.get("seconds") is not None:
        lines.append(
            f"recompute next day: {again['seconds']:.2f} s, {again.get('changed')} changed, "
            f"peak {again.get('peak_rss_mib')} MiB, ÷ plain read {again.get('ratio_to_plain_read')}"
        )
    return lines
