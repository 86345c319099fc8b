"""Prometheus metrics: what an operator watches (issue 13, observability).

One module defines every metric so names stay consistent; services call the small ``record_*``
helpers, which never take personal data (partner and unit ids, route templates and problem codes
only). With several worker processes prometheus-client's multiprocess mode is used: ``gateway
serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers
start, and :func:`render` then aggregates every process's files.
"""

from __future__ import annotations

import os
import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.pool import Pool, QueuePool

__all__ = [
    "CONTENT_TYPE",
    "collecting_registry",
    "observe_request",
    "record_assertion_issued",
    "record_decision",
    "record_ingestion",
    "record_jwks_fetch",
    "record_problem",
    "record_status_list_lag",
    "register_pool_gauge",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = CollectorRegistry(auto_describe=True)

_REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
_ASSERTIONS = Counter(
    "gateway_assertions_issued",
    "Score assertions issued, by partner and disclosure level",
    ["partner", "disclosure"],
    registry=REGISTRY,
)
_PROBLEMS = Counter(
    "gateway_problems", "Problem documents (refusals and errors) by code", ["code", "status"], registry=REGISTRY
)
_DECISIONS = Counter(
    "gateway_partner_decisions",
    "Recognitions and eligibility decisions by partner",
    ["kind", "partner", "outcome"],
    registry=REGISTRY,
)
_INGESTION = Counter(
    "gateway_ingested_records",
    "Ingested records by collaborating unit and outcome",
    ["unit", "outcome"],
    registry=REGISTRY,
)
_JWKS = Counter("gateway_jwks_fetches", "Partner JWK Set fetches by outcome", ["outcome"], registry=REGISTRY)
_STATUS_LAG = Histogram(
    "gateway_status_list_publication_lag_seconds",
    "Age of a status list when served: how late a revocation can reach a verifier",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600),
    registry=REGISTRY,
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    _REQUESTS.labels(route, method, str(status)).inc()
    _LATENCY.labels(route, method).observe(seconds)


def record_problem(code: str, status: int) -> None:
    _PROBLEMS.labels(code, str(status)).inc()


def record_assertion_issued(partner: str, disclosure: str) -> None:
    _ASSERTIONS.labels(partner, disclosure).inc()


def record_decision(kind: str, partner: str, outcome: str) -> None:
    """``kind`` is ``recognition`` or ``eligibility``; ``outcome`` e.g. ``eligible``/``not_eligible``."""
    _DECISIONS.labels(kind, partner, outcome).inc()


def record_ingestion(unit: str, accepted: int, duplicates: int, rejected: int) -> None:
    for outcome, count in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if count:
            _INGESTION.labels(unit, outcome).inc(count)


def record_jwks_fetch(outcome: str) -> None:
    _JWKS.labels(outcome).inc()


def record_status_list_lag(seconds: float) -> None:
    _STATUS_LAG.observe(max(0.0, seconds))


class _PoolCollector(Collector):
    """Database connections of this process's pools, read at scrape time (weakly held: a disposed
    engine drops out)."""

    def __init__(self) -> None:
        self.pools: weakref.WeakSet[Pool] = weakref.WeakSet()

    def collect(self) -> list[GaugeMetricFamily]:
        in_use = GaugeMetricFamily("gateway_db_pool_connections", "Database pool connections", labels=["state"])
        used = idle = 0
        for pool in list(self.pools):
            if isinstance(pool, QueuePool):
                used, idle = used + pool.checkedout(), idle + pool.checkedin()
        in_use.add_metric(["in_use"], used)
        in_use.add_metric(["idle"], idle)
        return [in_use]


_POOL = _PoolCollector()


def register_pool_gauge(pool: Pool) -> None:
    """Report ``pool``'s connections (in use, idle) in this process's metrics."""
    _POOL.pools.add(pool)


def collecting_registry() -> CollectorRegistry:
    """This process's registry, or one that sums every worker's files in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render() -> bytes:
    """The exposition text: this process, or every worker's in multiprocess mode."""
    registry = collecting_registry()
    pool = CollectorRegistry()
    pool.register(_POOL)
    return generate_latest(registry) + generate_latest(pool)
