"""``python -m bench.requestpath``: the request path in one process, without sockets (issue 12).

Wall-clock load runs on a shared two-core machine are noisy; this measures what one request costs
the gateway, and what it costs the reference app, by calling the two ASGI applications directly
(a hand-built ASGI scope, no HTTP parser, no socket), alternately, in the same process:

- ``issuance`` against the reference's ``/sign``; ``recognition`` and ``eligibility`` against its
  ``/verify``: sequential requests (µs per request, and the ratio reference ÷ gateway, which is the
  figure the load runs' ``gateway ÷ reference`` throughput ratio tends to on an idle machine);
- ``issuance ×32``: 32 requests in flight at once on one event loop, as uvicorn runs them behind 32
  connections (requests/s, and the latency spread), which is where SQLite's one writer shows;
- ``--only issue-call``: ``issue_assertion`` alone, in a loop, for ``valgrind --tool=callgrind``
  (instruction counts do not depend on what else the machine runs).

A population is generated and loaded in process, scored, and ``--subjects`` residents consent to
the city partner and the bank. ``--database-url`` runs on an empty PostgreSQL database instead of
a SQLite file. This is a tool: nothing asserts its numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

PARTNER, PURPOSE = "hangzhou-credit", "cross_city_recognition"
BANK, BANK_PURPOSE = "sx-example-bank", "loan_discount"

Call = Callable[[], Awaitable[int]]


def _asgi_caller(app: Any, method: str, path: str, headers: dict[str, str], bodies: Sequence[bytes]) -> Call:
    """One request to ``app`` per call, cycling through ``bodies``; returns the status code."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    i = 0
    failures: list[str] = []

    async def call() -> int:
        nonlocal i
        body = bodies[i % len(bodies)] if bodies else b""
        i += 1
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*raw_headers, (b"content-length", str(len(body)).encode()), (b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not 200 <= status < 300 and not failures:
                failures.append(message.get("body", b"")[:300].decode(errors="replace"))

        await app(scope, receive, send)
        if failures and len(failures) == 1:
            failures.append("")
            print(f"{method} {path}: {status} {failures[0]}", file=sys.stderr)
        return status

    return call


async def _sequential(call: Call, seconds: float) -> dict[str, Any]:
    lat: list[float] = []
    bad = 0
    cpu = time.process_time()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        status = await call()
        lat.append(time.perf_counter() - t0)
        bad += not 200 <= status < 300
    return _summary(lat, time.perf_counter() - start, bad, time.process_time() - cpu)


async def _concurrent(call: Call, seconds: float, in_flight: int) -> dict[str, Any]:
    lat: list[float] = []
    bad = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal bad
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            status = await call()
            lat.append(time.perf_counter() - t0)
            bad += not 200 <= status < 300

    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return _summary(lat, time.perf_counter() - start, bad, time.process_time() - cpu)


def _summary(lat: list[float], elapsed: float, bad: int, cpu: float) -> dict[str, Any]:
    """Latencies, and this process's CPU time per request (all its threads; on PostgreSQL the
    server's own work is not in it), which a busy machine disturbs far less than wall time."""
    lat.sort()
    n = len(lat)
    return {
        "n": n,
        "cpu_us": round(cpu / n * 1e6, 1) if n else None,
        "per_s": round(n / elapsed, 1) if elapsed else None,
        "mean_us": round(statistics.fmean(lat) * 1e6, 1) if n else None,
        "p50_us": round(lat[n // 2] * 1e6, 1) if n else None,
        "p99_us": round(lat[min(n - 1, int(n * 0.99))] * 1e6, 1) if n else None,
        "non_2xx": bad,
    }


def _prepare(args: argparse.Namespace, data_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The gateway context with a scored population and consenting subjects, and what to send."""
    from bench.population import PARTNER_KEYS, eligible_subjects, generate_population, ingest_in_process
    from bench.run import _programme_for, bench_env
    from gateway.config import Settings
    from gateway.exchange import make_client_assertion, read_signing_key
    from gateway.services.context import Gateway
    from gateway.services.exchange.issuance import issue_assertion
    from gateway.services.residents.consents import grant_consent
    from gateway.services.residents.dev_idp import DevIdentityProvider
    from gateway.services.scores.scoring import recompute_all

    env = bench_env(data_dir, args.database_url)
    settings = Settings.from_env(env)
    if args.database_url:
        from gateway.store.engine import make_engine, migrate

        engine = make_engine(args.database_url)
        migrate(engine)
        engine.dispose()
    population = data_dir / "population"
    generate_population(args.residents, 20260601, population)
    ingest_in_process(settings, population)
    gw = Gateway.build(settings)
    recompute_all(gw, trigger="recompute")
    subjects = eligible_subjects(settings, population, args.subjects)
    idp = DevIdentityProvider(settings)
    for s in subjects:
        resident = gw.residents.authenticate(idp.issue_id_token(s.id_number, s.name))
        for audience, purpose in ((PARTNER, PURPOSE), (BANK, BANK_PURPOSE)):
            grant_consent(gw, resident, audience=audience, purposes=[purpose], valid_days=30, channel="app")

    def token(partner: str) -> str:
        key = read_signing_key(PARTNER_KEYS / f"{partner}.pem")
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": make_client_assertion(key, client_id=partner, audience=settings.issuer),
        }
        return str(gw.oauth.token(form)["access_token"])

    tokens = {PARTNER: token(PARTNER), BANK: token(BANK)}
    principal = gw.oauth.authenticate(tokens[PARTNER])
    bank = gw.oauth.authenticate(tokens[BANK])
    s0 = subjects[0]
    city_assertion = issue_assertion(
        gw, principal, id_number=s0.id_number, name=s0.name, purpose=PURPOSE, disclosure="tier"
    ).assertion
    bank_assertion = issue_assertion(
        gw, bank, id_number=s0.id_number, name=s0.name, purpose=BANK_PURPOSE, disclosure="tier"
    ).assertion
    bodies = [
        json.dumps(
            {"subject": {"id_number": s.id_number, "name": s.name}, "purpose": PURPOSE, "disclosure": "tier"},
            ensure_ascii=False,
        ).encode()
        for s in subjects
    ]
    return gw, {
        "settings": settings,
        "subjects": subjects,
        "principal": principal,
        "tokens": tokens,
        "issue_bodies": bodies,
        "city_assertion": city_assertion,
        "bank_assertion": bank_assertion,
        "programme": _programme_for(BANK, BANK_PURPOSE),
    }


def _reference_app(gw: Any, ctx: dict[str, Any], data_dir: Path) -> Any:
    import os

    import jwt

    from bench.reference import CONFIG_ENV, create_app

    assertion = ctx["city_assertion"]
    header = jwt.get_unverified_header(assertion)
    config = {
        "key_file": str(ctx["settings"].keys_dir / f"{header['kid']}.pem"),
        "kid": header["kid"],
        "typ": header["typ"],
        "issuer": ctx["settings"].issuer,
        "audience": PARTNER,
        "claims": jwt.decode(assertion, options={"verify_signature": False}),
        "jwks": gw.keyring.jwks() if hasattr(gw.keyring, "jwks") else {"keys": []},
    }
    path = data_dir / "reference-config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    os.environ[CONFIG_ENV] = str(path)
    return create_app()


def _issue_call_loop(gw: Any, ctx: dict[str, Any], n: int) -> dict[str, Any]:
    from gateway.services.exchange.issuance import issue_assertion

    subjects, principal = ctx["subjects"], ctx["principal"]
    lat = []
    cpu = time.process_time()
    for i in range(n):
        s = subjects[i % len(subjects)]
        t0 = time.perf_counter()
        issue_assertion(gw, principal, id_number=s.id_number, name=s.name, purpose=PURPOSE, disclosure="tier")
        lat.append(time.perf_counter() - t0)
    return _summary(lat, sum(lat), 0, time.process_time() - cpu)


async def _measure(gw: Any, ctx: dict[str, Any], ref: Any, args: argparse.Namespace) -> dict[str, Any]:
    from gateway.api.app import create_app

    app = create_app(gw)
    json_h = {"content-type": "application/json"}
    city = {**json_h, "authorization": f"Bearer {ctx['tokens'][PARTNER]}"}
    bank = {**json_h, "authorization": f"Bearer {ctx['tokens'][BANK]}"}
    pairs: dict[str, tuple[Call, Call]] = {
        "issuance": (
            _asgi_caller(app, "POST", "/v1/assertions", city, ctx["issue_bodies"]),
            _asgi_caller(ref, "POST", "/sign", json_h, ctx["issue_bodies"]),
        ),
        "recognition": (
            _asgi_caller(
                app, "POST", "/v1/recognitions", city, [json.dumps({"assertion": ctx["city_assertion"]}).encode()]
            ),
            _asgi_caller(ref, "POST", "/verify", json_h, [json.dumps({"assertion": ctx["city_assertion"]}).encode()]),
        ),
        "eligibility": (
            _asgi_caller(
                app,
                "POST",
                "/v1/eligibility",
                bank,
                [json.dumps({"assertion": ctx["bank_assertion"], "programme_id": ctx["programme"]}).encode()],
            ),
            _asgi_caller(ref, "POST", "/verify", json_h, [json.dumps({"assertion": ctx["city_assertion"]}).encode()]),
        ),
    }
    out: dict[str, Any] = {}
    wanted = [p for p in pairs if args.only in ("all", p)]
    for name in wanted:
        ours, theirs = pairs[name]
        for _ in range(3):  # warm-up
            await ours()
            await theirs()
        rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for _ in range(args.rounds):  # alternate, so that a burst of other load hits both
            rounds.append((await _sequential(ours, args.seconds), await _sequential(theirs, args.seconds)))
        g = min((r[0] for r in rounds), key=lambda r: r["cpu_us"])
        r = min((r[1] for r in rounds), key=lambda r: r["cpu_us"])
        out[name] = {
            "gateway": g,
            "reference": r,
            "ratio_p50": round(r["p50_us"] / g["p50_us"], 3),
            "ratio_cpu": round(r["cpu_us"] / g["cpu_us"], 3),
            "rounds": rounds,
        }
    if args.only in ("all", "concurrent"):
        ours = pairs["issuance"][0]
        out["issuance_x32"] = await _concurrent(ours, args.seconds * 2, 32)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.requestpath", description=__doc__.split("\n\n")[0])
    p.add_argument("--residents", type=int, default=1000)
    p.add_argument("--subjects", type=int, default=100)
    p.add_argument("--seconds", type=float, default=2.0, help="per measurement, per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--database-url", help="an EMPTY PostgreSQL database instead of a SQLite file")
    p.add_argument(
        "--only", choices=["all", "issuance", "recognition", "eligibility", "concurrent", "issue-call"], default="all"
    )
    p.add_argument("--calls", type=int, default=2000, help="issue-call: how many issue_assertion calls")
    args = p.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="gateway-requestpath-"))
    try:
        gw, ctx = _prepare(args, data_dir)
        try:
            if args.only == "issue-call":
                _issue_call_loop(gw, ctx, 50)
                result: dict[str, Any] = {"issue_call": _issue_call_loop(gw, ctx, args.calls)}
            else:
                ref = _reference_app(gw, ctx, data_dir)
                result = asyncio.run(_measure(gw, ctx, ref, args))
        finally:
            gw.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    for name, r in result.items():
        if "gateway" in r:
            g, ref_r = r["gateway"], r["reference"]
            print(
                f"{name:<12} gateway cpu {g['cpu_us']:>7.1f} µs p50 {g['p50_us']:>8.1f} µs p99 {g['p99_us']:>9.1f}"
                f" | reference cpu {ref_r['cpu_us']:>6.1f} p50 {ref_r['p50_us']:>6.1f} µs"
                f" | ref÷gw cpu {r['ratio_cpu']} p50 {r['ratio_p50']} (non-2xx {g['non_2xx']})"
            )
        else:
            print(
                f"{name:<12} {r['per_s']} /s cpu {r['cpu_us']} µs p50 {r['p50_us']} µs p99 {r['p99_us']} µs"
                f" (non-2xx {r['non_2xx']})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
