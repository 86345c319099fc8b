"""Shared fixtures: a gateway on a fresh database per test.

The suite runs on the embedded SQLite default; with ``GATEWAY_TEST_DATABASE_URL`` set to a
PostgreSQL URL every database test runs there instead, each test in a schema of its own. A
PostgreSQL test skips only when no server answers and ``CI`` is unset; in CI it fails.

That second run keeps only the tests that use the suite's database (see
:func:`pytest_collection_modifyitems`); the rest ran, identically, in the SQLite run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from gateway.config import Settings
from gateway.services.context import Gateway

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_CALENDAR = Path(__file__).parent / "vectors" / "rights" / "working-calendar-TEST-ONLY.json"


def _pg_reachable(url: str) -> bool:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def require_postgres(url: str) -> None:
    if not _pg_reachable(url):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable and CI is set: the PostgreSQL suite must run.")
        pytest.skip("PostgreSQL is not reachable (set CI=1 to make this a failure)")


class PgSchema:
    """A throw-away schema; the URL makes every connection use it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = "t_" + uuid.uuid4().hex[:12]
        self.admin = create_engine(base_url)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        sep = "&" if "?" in base_url else "?"
        self.url = f"{base_url}{sep}options={quote('-csearch_path=' + self.name)}"

    def drop(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


def database_url_for(kind: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.sqlite3'}", lambda: None
    base = os.environ.get("GATEWAY_TEST_DATABASE_URL") or PG_DEFAULT
    require_postgres(base)
    schema = PgSchema(base)
    return schema.url, schema.drop


def _suite_kind() -> str:
    url = os.environ.get("GATEWAY_TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@pytest.fixture
def db_kind() -> str:
    return _suite_kind()


def uses_suite_database(item: pytest.Item) -> bool:
    """Whether a test runs on the suite's database: it asks for ``db_kind``, itself or through a
    fixture that does (``settings``, ``gw``, ``client``, ...) — the only way to be given it. Decided
    from the fixtures, so a new database test is never left out for want of a marker."""
    return "db_kind" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL run, deselect the tests that never touch the suite's database.

    The scoring core, the exchange format, parsers, schemas and vectors, the CLI's pure parts, and
    the tests that open PostgreSQL on their own (they ran in the SQLite run, where CI has the server
    up) would only repeat what the SQLite run just checked. ``GATEWAY_TEST_EVERYTHING=1`` keeps them.
    """
    if _suite_kind() != "postgresql" or os.environ.get("GATEWAY_TEST_EVERYTHING"):
        return
    dropped = [item for item in items if not uses_suite_database(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if uses_suite_database(item)]


def pytest_report_header(config: pytest.Config) -> str | None:
    if _suite_kind() == "postgresql" and not os.environ.get("GATEWAY_TEST_EVERYTHING"):
        return "PostgreSQL run: only tests using the suite's database (GATEWAY_TEST_EVERYTHING=1 runs all)"
    return None


@pytest.fixture
def settings(tmp_path: Path, db_kind: str) -> Iterator[Settings]:
    url, cleanup = database_url_for(db_kind, tmp_path)
    base = Settings.from_env({})
    # Issue 14: deadlines run in working days and refuse a year without an official notice; the suite
    # uses a labelled test calendar (official 2026, weekend-only placeholders after) so that it does
    # not start failing when "now + 20 working days" reaches a year whose notice is not out yet.
    yield replace(base, data_dir=tmp_path / "data", database_url=url, working_calendar_path=TEST_CALENDAR)
    cleanup()


@pytest.fixture
def gw(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.delenv("GATEWAY_ID_PEPPER", raising=False)
    gateway = Gateway.build(settings, run_migrations=True)
    yield gateway
    gateway.close()
