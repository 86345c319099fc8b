"""SIGKILL in the middle of HTTP ingestion, restart, re-send everything: every record exactly
once, scores equal to a full recompute, the audit log agreeing with what was stored. Runs on
the suite's database (SQLite by default, PostgreSQL with GATEWAY_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from gateway.config import DEFAULT_ISSUER, Settings
from gateway.services.context import Gateway
from gateway.services.scores.scoring import recompute_all
from gateway.store.tables import audit_log, current_scores, provincial_evaluations
from tests.hardening.live_server import LiveGateway
from tests.support import make_id, record
from tests.support.partners import client_assertion, token_form

pytestmark = pytest.mark.slow

UNIT = "zj-credit-platform"
BATCHES = 30
PER_BATCH = 100


def _batches() -> list[bytes]:
    out = []
    for b in range(BATCHES):
        rows = [
            record(
                "provincial_evaluation",
                {"score": 600 + (b * PER_BATCH + i) % 400, "edition": "2026"},
                ref=f"k-{b}-{i}",
                id_number=make_id(seq=(b * PER_BATCH + i) % 997 + 1),
                name="张三",
            )
            for i in range(PER_BATCH)
        ]
        out.append(json.dumps(rows, ensure_ascii=False).encode())
    return out


def _token(url: str) -> str:
    resp = httpx.post(f"{url}/oauth/token", data=token_form(client_assertion(UNIT, DEFAULT_ISSUER)), timeout=30)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def _send(url: str, token: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return httpx.post(f"{url}/v1/ingest/records", content=body, headers=headers, timeout=60)


def test_sigkill_mid_ingestion_then_resend(settings: Settings, tmp_path: Path) -> None:
    env = {"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_DATABASE_URL": str(settings.database_url)}
    server = LiveGateway(env)
    batches = _batches()
    acknowledged: list[int] = []
    try:
        server.start()
        token = _token(server.url)
        three_acked = threading.Event()

        def push() -> None:
            for n, body in enumerate(batches):
                try:
                    resp = _send(server.url, token, body)
                except httpx.HTTPError:
                    return  # the server died under us
                if resp.status_code == 200:
                    acknowledged.append(n)
                if len(acknowledged) >= 3:
                    three_acked.set()

        sender = threading.Thread(target=push)
        sender.start()
        assert three_acked.wait(120), "no batch was acknowledged"
        server.kill()  # SIGKILL, very likely with a batch in flight
        sender.join(60)
        assert acknowledged and len(acknowledged) < BATCHES

        server.start()
        token = _token(server.url)
        for body in batches:  # the unit re-sends everything it is not sure about
            resp = _send(server.url, token, body)
            assert resp.status_code == 200, resp.text
            assert resp.json()["rejected"] == 0
    finally:
        server.stop()

    gw = Gateway.build(settings, background_refresh=False)
    try:
        with gw.engine.connect() as conn:
            refs = conn.execute(select(provincial_evaluations.c.source_ref)).scalars().all()
            assert len(refs) == len(set(refs)) == BATCHES * PER_BATCH  # every record exactly once
            accepted = [
                json.loads(d) if isinstance(d, str) else d
                for d in conn.execute(select(audit_log.c.details).where(audit_log.c.action == "ingest.batch")).scalars()
            ]
            # Every audited acceptance is a stored record and every stored record was audited once.
            assert sum(d["accepted"] for d in accepted) == BATCHES * PER_BATCH
            before = {r.person_id: (r.eligible, r.score, r.tier) for r in conn.execute(select(current_scores))}
            conn.rollback()
        recompute_all(gw, as_of=None, chunk=500, progress=None)
        with gw.engine.connect() as conn:
            after = {r.person_id: (r.eligible, r.score, r.tier) for r in conn.execute(select(current_scores))}
            assert conn.execute(select(func.count()).select_from(current_scores)).scalar_one() == len(before)
        assert after == before  # scores equal to a full recompute
    finally:
        gw.close()
