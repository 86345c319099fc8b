"""Machine facts and library versions for the report: figures mean little without them."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["cpu_busy_pct", "machine_facts", "versions", "wait_for_quiet"]

_PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "pydantic-core",
    "pyjwt",
    "cryptography",
    "sqlalchemy",
    "jsonschema",
    "httpx",
    "h11",
    "uvloop",
    "httptools",
    "psycopg",
)


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_facts() -> dict[str, Any]:
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": len(affinity) if affinity is not None else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpuinfo_field("model name") or platform.processor() or None,
        "cpu_mhz": _cpuinfo_field("cpu MHz"),
        "memory_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None  # not installed (uvloop and httptools are not dependencies)
    return out


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values), idle


def cpu_busy_pct(interval: float = 0.5) -> float | None:
    """How busy the whole machine is, all cores together, over ``interval`` seconds."""
    first = _cpu_times()
    time.sleep(interval)
    second = _cpu_times()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return round(100 * (total - idle) / total, 1)


def wait_for_quiet(max_wait: float, threshold_pct: float = 15.0) -> tuple[float | None, float]:
    """Wait (at most ``max_wait`` s) until the machine is nearly idle before a load run.

    Between runs every server under test is idle, so CPU in use then belongs to other processes
    (on a shared machine: other people's test suites), which would take cores from the run.
    Returns the last busy percentage seen and the seconds waited.
    """
    started = time.monotonic()
    busy = cpu_busy_pct()
    while busy is not None and busy > threshold_pct and time.monotonic() - started < max_wait:
        busy = cpu_busy_pct()
    return busy, round(time.monotonic() - started, 1)
