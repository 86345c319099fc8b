"""PostgreSQL stopped and restarted during issuance, on a throw-away cluster this test creates
(initdb in a temporary directory, a free port on 127.0.0.1; the shared server is never touched):
503 problem+json with Retry-After during the outage, /readyz failing, service back without
restarting the gateway, and no disclosure row without its assertion or the reverse."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from gateway.api.app import create_app
from gateway.config import DEFAULT_ISSUER, Settings
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import disclosures, status_slots
from tests.hardening.conftest import suite_on_postgres
from tests.hardening.live_server import LiveGateway, free_port
from tests.support import basic_records, make_id
from tests.support.partners import access_token, client_assertion, token_form

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(suite_on_postgres(), reason="independent of the suite database: runs in the SQLite run"),
]

BANK = "sx-example-bank"
PEOPLE = [(make_id(seq=600 + i), "张三") for i in range(3)]


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class ThrowawayCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gw-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: then the cluster belongs to the postgres system user.
        self.as_user: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        initdb = _bin("initdb")
        assert initdb
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run(_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    if not _bin("initdb") or not _bin("pg_ctl"):
        if os.environ.get("CI"):
            pytest.fail("initdb/pg_ctl are needed in CI")
        pytest.skip("no PostgreSQL binaries")
    c = ThrowawayCluster()
    try:
        c.init()
        c.start()
        yield c
    finally:
        c.destroy()


def _prepare(settings: Settings) -> None:
    """Residents with scores and consents for the bank, written through the API in process."""
    gw = Gateway.build(settings, run_migrations=True, background_refresh=False)
    try:
        with TestClient(create_app(gw)) as client:
            for idn, name in PEOPLE:
                for unit, batch in basic_records(idn, name, idn[-6:]).items():
                    token = access_token(client, unit)
                    resp = client.post("/v1/ingest/records", json=batch, headers={"Authorization": f"Bearer {token}"})
                    assert resp.json()["accepted"] == 1, resp.text
                id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
                body = {"audience": BANK, "purposes": ["loan_discount"], "valid_days": 30, "channel": "app"}
                resp = client.post("/v1/me/consents", json=body, headers={"Authorization": f"Bearer {id_token}"})
                assert resp.status_code == 201, resp.text
    finally:
        gw.close()


def test_postgres_outage_during_issuance(cluster: ThrowawayCluster, tmp_path: Path) -> None:
    settings = replace(Settings.from_env({}), data_dir=tmp_path / "data", database_url=cluster.url)
    _prepare(settings)
    server = LiveGateway({"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_DATABASE_URL": cluster.url})
    issued: list[str] = []
    outage_answers: list[httpx.Response] = []
    stop = threading.Event()
    try:
        server.start()
        resp = httpx.post(f"{server.url}/oauth/token", data=token_form(client_assertion(BANK, DEFAULT_ISSUER)))
        assert resp.status_code == 200
        bank = {"Authorization": f"Bearer {resp.json()['access_token']}"}

        def issue() -> None:
            n = 0
            while not stop.is_set():
                idn, name = PEOPLE[n % len(PEOPLE)]
                n += 1
                body = {"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount"}
                try:
                    r = httpx.post(f"{server.url}/v1/assertions", json=body, headers=bank, timeout=30)
                except httpx.HTTPError:
                    continue
                if r.status_code == 201:
                    issued.append(r.json()["jti"])
                else:
                    outage_answers.append(r)

        worker = threading.Thread(target=issue)
        worker.start()
        deadline = time.monotonic() + 60
        while len(issued) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(issued) >= 5
        cluster.stop("immediate")  # the database goes away under load
        deadline = time.monotonic() + 30
        while len(outage_answers) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        during = len(issued)
        cluster.start()
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not come back"
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while len(issued) < during + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join(60)
        assert len(issued) >= during + 5, "issuance did not resume without a restart"
    finally:
        stop.set()
        log = server.stop()

    assert outage_answers, "no request met the outage"
    for r in outage_answers:
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["retry-after"].isdigit()
        assert r.json()["code"] == "unavailable"
    assert "Traceback" not in log
    assert log.count("database unavailable") <= 2  # one line per outage (per pool that noticed)

    engine = create_engine(cluster.url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            logged = set(conn.execute(select(disclosures.c.jti)).scalars())
            slots = set(conn.execute(select(status_slots.c.jti)).scalars())
    finally:
        engine.dispose()
    # Every acknowledged assertion has its disclosure row and slot; no row lacks its assertion.
    assert set(issued) == logged == slots
