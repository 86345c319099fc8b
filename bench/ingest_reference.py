"""The ingestion reference (issue 12): the least an ingestion endpoint must do, in plain FastAPI.

``POST /ingest`` takes the same NDJSON batches of 1,000 records the gateway takes, parses each line,
checks it with the same compiled validators (the envelope's and the catalogue item's attributes,
``gateway.catalogue.fastcheck``) and the unit's grant, and bulk-inserts the valid ones — one
``executemany`` with ``ON CONFLICT DO NOTHING`` on (unit, source reference), so that a re-sent batch
changes nothing, as in the gateway — into a table of its own in the same database, committed before
it answers. The unit comes from an ``X-Unit`` header. No token, no ID-number parsing or hashing, no
people, no scores, no audit entry: the gap between this and the gateway is what those cost.

Served by ``python -m bench.serve bench.ingest_reference:create_app`` through the same
:func:`gateway.serving.run_server` as the gateway, with the same workers; the database URL comes
from ``GATEWAY_DATABASE_URL``/``GATEWAY_DATA_DIR`` exactly as for the gateway.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from bench.servers import Server, _spawn, free_port
from gateway.config import Settings

__all__ = ["TABLE", "create_app", "start_ingest_reference"]

TABLE = "bench_reference_records"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id {{id}} PRIMARY KEY, unit_id VARCHAR(64) NOT NULL, "
    "source_ref VARCHAR(128) NOT NULL, item_code VARCHAR(48) NOT NULL, occurred_at DATE NOT NULL, "
    "attributes TEXT NOT NULL, UNIQUE (unit_id, source_ref))"
)
_INSERT = (
    f"INSERT INTO {TABLE} (unit_id, source_ref, item_code, occurred_at, attributes) VALUES (?, ?, ?, ?, ?) "  # noqa: S608
    "ON CONFLICT (unit_id, source_ref) DO NOTHING"
)


class _Store:
    """One connection per process, one writer at a time (as the gateway's SQLite writer lock)."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.lock = threading.Lock()
        if self.sqlite:
            import sqlite3

            self.conn: Any = sqlite3.connect(
                url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False, timeout=30
            )
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.insert = _INSERT
            self.conn.execute(_DDL.format(id="INTEGER"))
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(conninfo, autocommit=True)
            self.insert = _INSERT.replace("?", "%s")
            self.conn.execute(_DDL.format(id="BIGSERIAL"))

    def write(self, rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows`` and commit; returns how many were new."""
        if not rows:
            return 0
        with self.lock:
            if self.sqlite:
                before = self.conn.total_changes
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.conn.executemany(self.insert, rows)
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                return int(self.conn.total_changes - before)
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(self.insert, rows)
                return int(cur.rowcount)


def create_app() -> FastAPI:
    from gateway.catalogue import load_catalogue
    from gateway.partners import PartnerRegistry
    from gateway.services.scores.ingestion import _ENVELOPE_FAST

    settings = Settings.from_env()
    catalogue = load_catalogue(settings.catalogue_path)
    kinds = {p.id: p.unit_kind or "" for p in PartnerRegistry(settings.partners_dir, None).all()}
    store = _Store(settings.effective_database_url)
    app = FastAPI(title="bench ingestion reference")

    def handle(unit: str, body: bytes) -> dict[str, int]:
        kind = kinds.get(unit, "")
        rows: list[tuple[Any, ...]] = []
        rejected = 0
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                rejected += 1
                continue
            item = catalogue.item(raw["item"]) if _ENVELOPE_FAST(raw) else None
            if item is None or item.initial_status_for(kind) is None or item.attribute_errors(raw["attributes"]):
                rejected += 1
                continue
            attrs = json.dumps(raw["attributes"], ensure_ascii=False, separators=(",", ":"))
            rows.append((unit, raw["source_ref"], item.code, raw["occurred_at"], attrs))
        accepted = store.write(rows)
        return {"accepted": accepted, "duplicates": len(rows) - accepted, "rejected": rejected}

    @app.post("/ingest")
    async def ingest(request: Request) -> dict[str, int]:
        body = await request.body()
        return await run_in_threadpool(handle, request.headers.get("x-unit", ""), body)

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    return app


def start_ingest_reference(
    env: Mapping[str, str], workers: int, log_dir: Path, *, loop: str = "auto", http: str = "auto"
) -> Server:
    """The reference, launched exactly as :func:`bench.servers.start_reference` launches its own."""
    import sys

    port = free_port()
    cmd = [sys.executable, "-m", "bench.serve", "bench.ingest_reference:create_app", "--port", str(port)]
    cmd += ["--workers", str(workers), "--loop", loop, "--http", http]
    server = _spawn("ingest-reference", cmd, env, port, workers, log_dir)
    server.wait_ready("/ready")
    return server
