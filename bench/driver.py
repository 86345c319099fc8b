"""Load generators: wrk when it is installed, else a bundled httpx-based async driver.

Both are closed-loop (a fixed number of connections, each sending its next request when the last
one is answered) and bounded in time, after a warm-up whose results are thrown away. The fixed-rate
(open-loop) run always uses the httpx driver, because wrk cannot hold a rate: it schedules each
request at a fixed time and measures latency from that time, so a slow answer cannot hide the
requests that should have been sent meanwhile (coordinated omission).

Only loopback URLs are accepted: the harness never sends load anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "LoadResult",
    "Request",
    "check_loopback",
    "httpx_closed_loop",
    "httpx_fixed_rate",
    "parse_wrk_done",
    "percentile",
    "wrk_available",
    "wrk_closed_loop",
    "wrk_version",
]

_WRK_MARK = "BENCH-WRK-JSON "
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_loopback(url: str) -> None:
    """Refuse any target that is not this machine's loopback interface."""
    host = urlsplit(url).hostname or ""
    if host not in _LOOPBACK_HOSTS and not host.startswith("127."):
        raise ValueError(f"the harness only targets 127.0.0.1, not {host!r}")


@dataclass(frozen=True, slots=True)
class Request:
    """What one endpoint run sends: the same method, path and headers, bodies taken in turn."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    bodies: tuple[bytes, ...] = ()


@dataclass(slots=True)
class LoadResult:
    driver: str
    mode: str  # "closed" (saturating, N connections) or "rate" (fixed arrival rate)
    duration_s: float
    requests: int
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    non_2xx: int
    errors: int
    connections: int
    target_rps: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- wrk ---------------------------------------------------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_version() -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    # wrk prints its version in the usage text (to stdout or stderr) and exits non-zero.
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False, timeout=10)  # noqa: S603
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0] if first else "wrk"


def _lua_string(data: bytes) -> str:
    # Three-digit decimal escapes (a shorter one would swallow a following digit) keep any byte
    # (UTF-8 names, quotes, brackets) safe inside a Lua string.
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in data) + '"'


def _wrk_script(req: Request) -> str:
    path = urlsplit(req.url).path or "/"
    headers = ", ".join(f"[{_lua_string(k.encode())}] = {_lua_string(v.encode())}" for k, v in req.headers.items())
    bodies = ",\n  ".join(_lua_string(b) for b in req.bodies) or "nil"
    return f"""
local bodies = {{
  {bodies}
}}
local headers = {{ {headers} }}
local n = #bodies
local i = 0
request = function()
  local body = nil
  if n > 0 then
    i = i % n + 1
    body = bodies[i]
  end
  return wrk.format({_lua_string(req.method.encode())}, {_lua_string(path.encode())}, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "{_WRK_MARK}{{\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"connect\\":%.0f,\\"read\\":%.0f,\\"write\\":%.0f,"
    .. "\\"status\\":%.0f,\\"timeout\\":%.0f,\\"p50\\":%.0f,\\"p90\\":%.0f,\\"p99\\":%.0f,\\"max\\":%.0f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def parse_wrk_done(output: str) -> dict[str, int]:
    """The JSON line the script's ``done`` hook printed (latencies in microseconds)."""
    for line in output.splitlines():
        if line.startswith(_WRK_MARK):
            return {k: int(v) for k, v in json.loads(line[len(_WRK_MARK) :]).items()}
    raise RuntimeError("wrk printed no summary: " + output[-500:])


def _run_wrk(req: Request, *, threads: int, connections: int, duration: float) -> LoadResult:
    check_loopback(req.url)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", encoding="utf-8", delete=False) as fh:
        fh.write(_wrk_script(req))
        script = fh.name
    try:
        seconds = max(1, round(duration))
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            script,
            req.url,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)  # noqa: S603
    finally:
        Path(script).unlink(missing_ok=True)
    done = parse_wrk_done(proc.stdout + proc.stderr)
    elapsed = done["duration_us"] / 1e6
    errors = done["connect"] + done["read"] + done["write"] + done["timeout"]
    return LoadResult(
        driver="wrk",
        mode="closed",
        duration_s=round(elapsed, 3),
        requests=done["requests"],
        rps=done["requests"] / elapsed if elapsed else 0.0,
        p50_ms=done["p50"] / 1000,
        p90_ms=done["p90"] / 1000,
        p99_ms=done["p99"] / 1000,
        max_ms=done["max"] / 1000,
        non_2xx=done["status"],
        errors=errors,
        connections=connections,
        extra={"threads": threads},
    )


def wrk_closed_loop(req: Request, *, threads: int, connections: int, duration: float, warmup: float) -> LoadResult:
    if warmup > 0:
        _run_wrk(req, threads=threads, connections=connections, duration=warmup)
    return _run_wrk(req, threads=threads, connections=connections, duration=duration)


# --- httpx -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    errors: int = 0
    counter: int = 0

    def next_body(self, bodies: tuple[bytes, ...]) -> bytes | None:
        if not bodies:
            return None
        self.counter += 1
        return bodies[self.counter % len(bodies)]


async def _send(client: httpx.AsyncClient, req: Request, body: bytes | None, tally: _Tally) -> float:
    started = time.perf_counter()
    try:
        resp = await client.request(req.method, req.url, content=body, headers=req.headers)
        await resp.aread()
        if not 200 <= resp.status_code < 300:
            tally.non_2xx += 1
    except httpx.HTTPError:
        tally.errors += 1
    return time.perf_counter() - started


async def _closed_phase(clients: Sequence[httpx.AsyncClient], req: Request, seconds: float) -> tuple[_Tally, float]:
    tally = _Tally()
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            tally.latencies.append(await _send(client, req, tally.next_body(req.bodies), tally))

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    return tally, time.perf_counter() - started


@contextlib.asynccontextmanager
async def _clients(n: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    # One client of one connection per simulated connection: httpx's shared pool slows down
    # sharply with many concurrent requests (about 300 req/s at 32 against 1,700 this way).
    # Only plain-HTTP loopback URLs are driven, but each client would still build its own TLS
    # context (about 20 ms each): one shared context makes starting 64 clients cheap.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False, verify=tls))
            for _ in range(n)
        ]


def _result(tally: _Tally, elapsed: float, mode: str, connections: int, target: float | None = None) -> LoadResult:
    lat = sorted(tally.latencies)
    ms = [v * 1000 for v in lat]
    return LoadResult(
        driver="httpx",
        mode=mode,
        duration_s=round(elapsed, 3),
        requests=len(lat),
        rps=len(lat) / elapsed if elapsed else 0.0,
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=ms[-1] if ms else None,
        non_2xx=tally.non_2xx,
        errors=tally.errors,
        connections=connections,
        target_rps=target,
    )


def httpx_closed_loop(req: Request, *, connections: int, duration: float, warmup: float) -> LoadResult:
    check_loopback(req.url)

    async def run() -> LoadResult:
        async with _clients(connections) as clients:
            if warmup > 0:
                await _closed_phase(clients, req, warmup)
            tally, elapsed = await _closed_phase(clients, req, duration)
        return _result(tally, elapsed, "closed", connections)

    return asyncio.run(run())


def httpx_fixed_rate(req: Request, *, rate: float, duration: float, warmup: float, max_in_flight: int) -> LoadResult:
    """Send at a fixed rate; latency counts from each request's scheduled time, not its send time."""
    check_loopback(req.url)
    if rate <= 0:
        raise ValueError("rate must be positive")

    async def phase(clients: Sequence[httpx.AsyncClient], seconds: float) -> tuple[_Tally, float]:
        tally = _Tally()
        idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for c in clients:
            idle.put_nowait(c)
        loop = asyncio.get_running_loop()
        start = loop.time()
        wall = time.perf_counter()

        async def one(due: float, body: bytes | None) -> None:
            client = await idle.get()
            try:
                await _send(client, req, body, tally)
            finally:
                idle.put_nowait(client)
            # From the scheduled time: waiting for a free connection is part of the latency.
            tally.latencies.append(loop.time() - due)

        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, tally.next_body(req.bodies))))
        await asyncio.gather(*tasks)
        return tally, time.perf_counter() - wall

    async def run() -> LoadResult:
        async with _clients(max_in_flight) as clients:
            if warmup > 0:
                await phase(clients, warmup)
            tally, elapsed = await phase(clients, duration)
        return _result(tally, elapsed, "rate", max_in_flight, target=rate)

    return asyncio.run(run())
