"""Fixtures of the web pages' tests: seeded residents, a real uvicorn server, headless Chromium.

The browser is the distribution's Chromium (``/usr/bin/chromium``, installed by ``.ci/run`` when
missing) driven by Playwright for Python through ``executable_path`` — no browser download. Without
it the browser tests skip, except under ``CI`` where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.clock import today_in_shaoxing
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.residents.resident_identity import Resident
from gateway.services.scores.ingestion import ingest_batch
from gateway.store.tables import information_records
from tests.support import basic_records, make_id, record

CHROMIUM = os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
COURT = "sx-intermediate-court"


def _ingest(gw: Gateway, unit_id: str, batch: list[dict[str, Any]]) -> None:
    unit = gw.partners.enabled(unit_id)
    assert unit is not None
    assert len(ingest_batch(gw, unit, batch).accepted) == len(batch)


def enrol(
    gw: Gateway, seq: int, name: str, *, breach: bool = False, authorised: bool = True
) -> tuple[str, Resident, str]:
    """A scored resident (optionally with one serious breach): their ID number, Resident and breach ref.

    ``authorised=False``: only what the units push (residency, the provincial evaluation); the
    resident authorises scoring themself.
    """
    idn = make_id(seq=seq)
    for unit_id, batch in basic_records(idn, name, f"w{seq}").items():
        if authorised or unit_id != "sx-credit-center":
            _ingest(gw, unit_id, batch)
    ref = ""
    if breach:
        occurred = (today_in_shaoxing() - timedelta(days=30)).isoformat()
        attrs = {"severity": "serious", "decision_ref": "d-1", "category": "contract"}
        _ingest(
            gw, COURT, [record("pledge_breach", attrs, ref=f"w{seq}-b", id_number=idn, name=name, occurred_at=occurred)]
        )
        with gw.engine.connect() as conn:
            rid = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == f"w{seq}-b"))
            ref = f"r:{rid.scalar_one()}"
    rid_ = parse_resident_id(idn)
    resident = Resident(gw.hasher.id_hash(rid_.normalised), gw.hasher.name_hash(name), mask_name(name), rid_.birth_date)
    return idn, resident, ref


class LiveServer:
    """The gateway as a real uvicorn server on 127.0.0.1, in a thread of the test process."""

    def __init__(self, gw: Gateway) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(gw), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(gw: Gateway) -> Iterator[LiveServer]:
    with LiveServer(gw) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it lives,
    # which later tests' asyncio.run() must not meet.
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM} and CI is set: the browser journeys must run.")
        pytest.skip("Chromium is not installed (apt-get install chromium); set CI=1 to make this a failure")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Any]:
    """New pages in fresh contexts; at the end, no page may have logged a CSP violation."""
    contexts: list[Any] = []
    violations: list[str] = []

    def make(width: int = 1366, height: int = 768) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert violations == []


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
