"""Where the time goes, in process: ``python -m bench --profile`` adds this to the report.

py-spy and pyinstrument are not installed, so this uses the standard library's cProfile on the
service calls behind each endpoint, plus plain per-call timings. cProfile only sees the thread it
runs in, which is why the services are called directly rather than through uvicorn (the routes
run them in a threadpool); the HTTP and framework share is then what is left of the per-request
time that the load runs measured. cProfile slows Python code more than C code, so the category
shares are indicative; the per-call timings are taken without the profiler.
"""

from __future__ import annotations

import cProfile
import inspect
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gateway.config import Settings

__all__ = ["categorise", "profile_all", "summarise"]

# First match wins: (substring of "file:function", category).
_CATEGORIES = (
    ("sqlite3", "sqlite (C driver)"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/jsonschema/", "jsonschema"),
    ("/referencing/", "jsonschema"),
    ("/rpds", "jsonschema"),
    ("/jwt/", "PyJWT"),
    ("cryptography", "cryptography (OpenSSL)"),
    ("_hashlib", "hashing (HMAC)"),
    ("/hmac.py", "hashing (HMAC)"),
    ("/pydantic", "pydantic"),
    ("/json/", "json"),
    ("_json", "json"),
    ("/gateway/scoring/", "gateway scoring core"),
    ("/gateway/catalogue/", "gateway catalogue checks"),
    ("/gateway/store/", "gateway store (query building)"),
    ("/gateway/", "gateway services"),
    ("/datetime", "datetime"),
    ("/uuid", "uuid/secrets"),
    ("/secrets", "uuid/secrets"),
)


def categorise(filename: str, function: str) -> str:
    key = f"{filename}:{function}"
    for needle, category in _CATEGORIES:
        if needle in key:
            return category
    return "other (stdlib, builtins)"


def summarise(profiler: cProfile.Profile, calls: int, *, top: int = 12, focus: tuple[str, ...] = ()) -> dict[str, Any]:
    """Own time per category, the costliest functions, and the cumulative time of ``focus``
    functions (by name), all per call of the profiled operation, in microseconds."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1e-12
    by_cat: dict[str, float] = {}
    rows = []
    cumulative: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        cat = categorise(filename, function)
        by_cat[cat] = by_cat.get(cat, 0.0) + tottime
        rows.append((tottime, f"{Path(filename).name}:{function}" if filename != "~" else function, cat))
        if function in focus:
            cumulative[function] = max(cumulative.get(function, 0.0), cumtime)
    rows.sort(reverse=True)
    return {
        "calls": calls,
        "profiled_us_per_call": round(total / calls * 1e6, 1),
        "by_category_pct": {k: round(v / total * 100, 1) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
        "top_functions": [
            {"function": name, "category": cat, "own_pct": round(t / total * 100, 1)} for t, name, cat in rows[:top]
        ],
        "cumulative_us_per_call": {k: round(v / calls * 1e6, 1) for k, v in cumulative.items()},
    }


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(20, n)):
        fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return round((time.perf_counter() - started) / n * 1e6, 1)


def profile_issuance(settings: Settings, population: Path, n: int = 1500) -> dict[str, Any]:
    """``issue_assertion`` and the access-token check behind ``POST /v1/assertions``."""
    import jwt

    from bench.population import PARTNER_KEYS, eligible_subjects
    from bench.run import PARTNER, PURPOSE
    from gateway.exchange import TYP_SCORE_ASSERTION, make_client_assertion, read_signing_key, sign
    from gateway.services.context import Gateway
    from gateway.services.exchange.issuance import issue_assertion

    subjects = eligible_subjects(settings, population, 200)
    if not subjects:
        return {"skipped": "no eligible resident"}
    gw = Gateway.build(settings)
    try:
        key = read_signing_key(PARTNER_KEYS / f"{PARTNER}.pem")
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": make_client_assertion(key, client_id=PARTNER, audience=settings.issuer),
        }
        token = str(gw.oauth.token(form)["access_token"])
        principal = gw.oauth.authenticate(token)
        i = 0

        def issue() -> str:
            nonlocal i
            s = subjects[i % len(subjects)]
            i += 1
            return issue_assertion(
                gw, principal, id_number=s.id_number, name=s.name, purpose=PURPOSE, disclosure="tier"
            ).assertion

        sample = issue()
        claims = jwt.decode(sample, options={"verify_signature": False})
        signing = gw.keyring.signing_key()
        timings: dict[str, Any] = {
            "issue_assertion_us": _per_call_us(issue, n),
            "authenticate_access_token_us": _per_call_us(lambda: gw.oauth.authenticate(token), n),
            "gateway_sign_us": _per_call_us(lambda: sign(claims, signing, TYP_SCORE_ASSERTION), n),
            "pyjwt_encode_key_object_us": _per_call_us(
                lambda: jwt.encode(claims, signing.private_key, algorithm=signing.alg), n
            ),
        }
        timings["threads"] = _thread_scaling(issue)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            issue()
        profiler.disable()
        focus = (
            "find_person",
            "find_live_consent",
            "get_current",
            "recompute_people",
            "sign",
            "allocate",
            "pairwise_subject",
            "id_hash",
            "name_hash",
            "execute",
            "begin",
            "__exit__",
        )
        return {"timings": timings, "profile": summarise(profiler, n, focus=focus)}
    finally:
        gw.close()


def _issue_in_threads(issue: Callable[[], object], threads: int, each: int) -> dict[str, Any]:
    import threading

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(each):
            started = time.perf_counter()
            try:
                issue()
            except Exception as exc:  # counted and reported: the point is to see what breaks
                with lock:
                    failures.append(type(exc).__name__)
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    began = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
        "failures": len(failures),
    }


def _thread_scaling(issue: Callable[[], object], total: int = 480) -> dict[str, Any]:
    """Issuances per second when 1, 4 or 16 threads of one process issue at once, as uvicorn's
    threadpool does under load: what concurrency on one database costs."""
    return {str(n): _issue_in_threads(issue, n, total // n) for n in (1, 4, 16)}


def profile_ingestion_and_recompute(residents: int = 2000) -> dict[str, Any]:
    """``ingest_batch`` (1,000-record batches with rescoring, as over HTTP) and ``recompute_all``,
    on a fresh database so that every record is new."""
    from bench.run import bench_env
    from gateway.services.context import Gateway
    from gateway.services.scores.ingestion import ingest_batch, parse_batch
    from gateway.services.scores.scoring import recompute_all
    from gateway.synth import generate

    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-profile-"))
    try:
        from datetime import date

        population = tmp / "population"
        manifest = generate(residents, 7, population, date.today())
        settings = Settings.from_env(bench_env(tmp, None))
        gw = Gateway.build(settings)
        batches = []
        for f in manifest.files:
            unit = gw.partners.enabled(f.unit)
            if unit is None:
                continue
            lines = (population / f.path).read_bytes().splitlines(keepends=True)
            for i in range(0, len(lines), 1000):
                batches.append((unit, b"".join(lines[i : i + 1000])))
        profiler = cProfile.Profile()
        records = 0
        started = time.perf_counter()
        profiler.enable()
        for unit, body in batches:
            parsed = parse_batch(body, "application/x-ndjson", max_records=1000)
            records += len(parsed)
            ingest_batch(gw, unit, parsed)
        profiler.disable()
        ingest_s = time.perf_counter() - started
        focus = (
            "parse_batch",
            "_check",
            "iter_errors",
            "attribute_errors",
            "safe_messages",
            "parse_resident_id",
            "id_hash",
            "name_hash",
            "ensure_people",
            "lock_people",
            "insert_new",
            "recompute_people",
            "store_results",
            "append_audit",
        )
        ingestion = summarise(profiler, records, focus=focus)
        ingestion["note"] = (
            f"per record; {records:,} records in {len(batches)} batches, {ingest_s:.1f} s under cProfile"
        )
        profiler = cProfile.Profile()
        profiler.enable()
        rep = recompute_all(gw)
        profiler.disable()
        recompute = summarise(
            profiler,
            rep.people,
            focus=("load_records_in_range", "_score_chunk", "compute", "store_results", "breakdown_json", "execute"),
        )
        recompute["note"] = f"per person; {rep.people:,} people"
        gw.close()
        return {"ingestion": ingestion, "recompute": recompute}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _noop() -> None:
    return None


def threadpool_hop_us(n: int = 2000) -> float:
    """What one ``run_in_threadpool`` costs (FastAPI runs every plain ``def`` dependency that way)."""
    import anyio
    from anyio import to_thread

    async def main() -> float:
        for _ in range(50):
            await to_thread.run_sync(_noop)
        started = time.perf_counter()
        for _ in range(n):
            await to_thread.run_sync(_noop)
        return (time.perf_counter() - started) / n * 1e6

    return round(anyio.run(main), 1)


def sync_dependencies(path: str, method: str) -> list[str]:
    """The plain-function dependencies of a route: each one is a threadpool hop per request."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    from gateway.api.app import build_app

    found: list[str] = []

    def walk(dep: Dependant) -> None:
        for sub in dep.dependencies:
            call = sub.call
            if call is not None:
                target = call if inspect.isfunction(call) else getattr(call, "__call__", call)  # noqa: B004
                if not inspect.iscoroutinefunction(target):
                    found.append(getattr(call, "__qualname__", type(call).__name__))
            walk(sub)

    def routes(items: list[Any]) -> Iterator[Any]:
        for route in items:
            nested = getattr(route, "original_router", None)  # FastAPI >= 0.16x keeps included routers
            yield from routes(nested.routes) if nested is not None else (route,)

    for route in routes(build_app().routes):
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            walk(route.dependant)
    # FastAPI runs a dependency shared by several others once per request.
    return list(dict.fromkeys(found))


def profile_all(
    settings: Settings, population: Path, log: Callable[[str], None], *, issuance: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {"tool": "cProfile (stdlib); py-spy and pyinstrument are not installed"}
    out["threadpool_hop_us"] = threadpool_hop_us()
    out["sync_dependencies"] = {
        "POST /v1/assertions": sync_dependencies("/v1/assertions", "POST"),
        "GET /.well-known/jwks.json": sync_dependencies("/.well-known/jwks.json", "GET"),
        "POST /v1/ingest/records": sync_dependencies("/v1/ingest/records", "POST"),
    }
    if issuance:  # needs the consents the HTTP phase granted
        log("  profiling issuance")
        out["issuance"] = profile_issuance(settings, population)
    log("  profiling ingestion and recompute on a fresh 2,000-resident database")
    out.update(profile_ingestion_and_recompute())
    return out
