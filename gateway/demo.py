"""``gateway demo``: the gateway's main job on the embedded default, end to end over real HTTP.

It generates a synthetic population, starts the gateway on 127.0.0.1, lets every collaborating
unit push its records with its own API key, and has a credit officer look up a first score. Run
it twice and the second run shows idempotent ingestion: every record comes back as a duplicate.
"""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.cli import render_score
from gateway.services.context import Gateway
from gateway.services.credentials import create_api_key
from gateway.store.tables import current_scores
from gateway.synth import generate

__all__ = ["run_demo"]

_BATCH = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """uvicorn in a background thread, stopped cleanly at the end of the demo."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _push_file(client: httpx.Client, key: str, path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    lines = path.read_bytes().splitlines(keepends=True)
    for i in range(0, len(lines), _BATCH):
        resp = client.post(
            "/v1/ingest/records",
            content=b"".join(lines[i : i + _BATCH]),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        )
        resp.raise_for_status()
        body = resp.json()
        for k in ("accepted", "duplicates", "rejected"):
            counts[k] += body[k]
    return counts


def run_demo(*, residents: int, seed: int, serve: bool, port: int) -> int:
    gw = Gateway.build()
    data_dir = gw.settings.data_dir
    population = data_dir / "demo-population"
    print(f"data directory: {data_dir}  (database: {gw.engine.url.render_as_string(hide_password=True)})")
    manifest_path = population / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text())["residents"] == residents:
        print(f"1. synthetic population of {residents:,} residents already in {population}")
    else:
        print(f"1. generating {residents:,} synthetic residents (seed {seed}) into {population}")
        generate(residents, seed, population, date.today())
    manifest = json.loads(manifest_path.read_text())

    with gw.engine.begin() as conn:
        keys = {f["unit"]: create_api_key(conn, gw, "unit", f["unit"]) for f in manifest["files"]}
        officer_key = create_api_key(conn, gw, "officer", "demo-officer")
    port = port or _free_port()
    app = create_app(gw)
    with _Server(app, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        print(
            f"2. gateway listening on http://127.0.0.1:{port} "
            f"(ready: {client.get('/readyz').json()['status']})"
        )
        print("3. collaborating units push their records over HTTP (NDJSON, batches of 1,000):")
        started = time.perf_counter()
        total: Counter[str] = Counter()
        for f in manifest["files"]:
            counts = _push_file(client, keys[f["unit"]], population / f["path"])
            total.update(counts)
            print(
                f"   {f['unit']:<24} {counts['accepted']:>7,} accepted {counts['duplicates']:>7,} duplicates "
                f"{counts['rejected']:>4,} rejected"
            )
        print(f"   {sum(total.values()):,} records in {time.perf_counter() - started:.1f} s")

        with gw.engine.connect() as conn:
            counted = select(current_scores.c.tier, func.count()).group_by(current_scores.c.tier)
            tiers: dict[str | None, int] = {tier: n for tier, n in conn.execute(counted)}
        labels = {t.code: t.label_zh for t in gw.model.tiers}
        shown = ", ".join(
            f"{code} {labels.get(code, '')}: {n:,}"
            for code, n in sorted(tiers.items(), key=lambda kv: str(kv[0]))
            if code
        )
        print(
            f"4. scores by tier (model {gw.model.version}): {shown}; "
            f"no score (ineligible): {tiers.get(None, 0):,}"
        )

        print(
            "5. a credit officer looks up synthetic residents until one has a score "
            "(POST /v1/officer/score-lookups):"
        )
        with (population / "residents.csv").open(encoding="utf-8") as fh:
            for n, resident in enumerate(csv.DictReader(fh)):
                resp = client.post(
                    "/v1/officer/score-lookups",
                    json={"id_number": resident["id_number"]},
                    headers={"Authorization": f"Bearer {officer_key}"},
                )
                view = resp.json()
                if resp.status_code != 200:
                    print(f"   {resp.status_code} {view.get('code')}: {view.get('detail')}")
                    continue
                print("   " + render_score(view).replace("\n", "\n   "))
                if view["eligible"] or n >= 20:
                    break
        if serve:
            print(f"serving on http://127.0.0.1:{port} — Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    gw.close()
    return 0
