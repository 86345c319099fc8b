"""Engines for the embedded SQLite default and for PostgreSQL, and migrations on start.

Several gateway processes may share one PostgreSQL database, so nothing here keeps state that
other processes need: replay caches, status lists and mapping versions live in tables.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from gateway.errors import ConfigurationError, ServiceUnavailable
from gateway.store.outage import outage_log

__all__ = ["MIGRATIONS_DIR", "make_engine", "migrate", "ping", "reader"]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number: serialises concurrent "migrate on start" across processes on PostgreSQL.
_MIGRATION_LOCK = 0x5358_4754_5759_0001


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off so that "begin" below decides:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers wait for each other
    # (busy_timeout) instead of failing with "database is locked" when a read upgrades to a write.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# Writers of one process queue here rather than in SQLite's busy handler, which sleeps (1, 2, 5 …
# 100 ms) between retries: under 16 concurrent issuances that turned 877 transactions/s into 480
# with a p99 of half a second (bench harness). Other processes still meet the busy handler.
_WRITER = threading.Lock()
_WRITER_TIMEOUT = 30.0  # the same bound as busy_timeout: a stuck writer fails, it does not hang


def _sqlite_begin(conn: Any) -> None:
    # Reads on a read-only engine (see ``reader``) begin deferred: in WAL mode they never wait for a
    # writer, so a read on a second connection inside a write transaction cannot block on it.
    if conn.get_execution_options().get("read_only"):
        conn.exec_driver_sql("BEGIN")
        return
    if not _WRITER.acquire(timeout=_WRITER_TIMEOUT):
        raise ServiceUnavailable("The database is busy; try again.")
    conn.info["holds_writer"] = True
    try:
        # Straight to the driver: SQLAlchemy's execution path cost more than the statement (issue 12).
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")
    except BaseException:
        _release_writer(conn)
        raise


def _release_writer(conn: Any) -> None:
    if conn.info.pop("holds_writer", False):
        _WRITER.release()


def _release_after(conn: Any) -> None:
    # The "commit"/"rollback" events fire just before the driver call; the next writer's BEGIN
    # IMMEDIATE may meet the busy handler for the few microseconds the commit still takes.
    _release_writer(conn)


# pool_pre_ping sent a round trip before every checkout: a tenth of an issuance's time on
# PostgreSQL (issue 12). A connection in steady use cannot have been dropped unnoticed, so only one
# that sat idle in the pool longer than this is pinged; a connection that breaks while in use is
# still recognised as a disconnect by SQLAlchemy, which then discards the whole pool.
PING_AFTER_IDLE_S = 5.0


def _idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the ping must not leave a transaction open
    except Exception as exc:
        # The pool drops this connection and checks out (or opens) another, up to three times.
        raise DisconnectionError("the pooled connection did not answer") from exc


def _private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask, often 0644); its
    -wal and -shm files take the database file's mode. An existing file is narrowed to 0600."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
    except OSError:
        log.warning("could not make the SQLite files private")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; a SQLite file's directory is created with mode 0700."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError("GATEWAY_DATABASE_URL is not a valid database URL.") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private_file(Path(parsed.database))
        engine = create_engine(parsed, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "commit", _release_after, retval=False)
        event.listen(engine, "rollback", _release_after, retval=False)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigurationError("Use the psycopg 3 driver: postgresql+psycopg://…")
        engine = create_engine(parsed, echo=echo, pool_size=10, max_overflow=10)
        event.listen(engine.pool, "connect", _idle_since)  # a new connection needs no ping
        event.listen(engine.pool, "checkin", _idle_since)
        event.listen(engine.pool, "checkout", _ping_if_idle)
        return engine
    raise ConfigurationError("Only SQLite and PostgreSQL databases are supported.")


def reader(engine: Engine) -> Engine:
    """The same pool, for transactions that only read (they begin deferred on SQLite)."""
    return engine.execution_options(read_only=True)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``; safe to call from several processes at once."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        outage_log.failed(exc)  # one line per outage, not one per probe
        return False
    outage_log.recovered()
    return True
