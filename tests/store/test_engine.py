"""Engine behaviour that the services rely on."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.services.context import Gateway
from gateway.store import engine as engine_module
from gateway.store.engine import reader


def test_a_read_inside_a_write_transaction_does_not_wait_for_it(gw: Gateway) -> None:
    # On SQLite every engine.begin() takes the write lock (BEGIN IMMEDIATE); a read on a second
    # connection must not queue behind it, or the keyring refreshing during an issuance would hang.
    with gw.engine.begin() as writer:
        writer.execute(text("UPDATE signing_keys SET alg = alg"))
        started = time.monotonic()
        with reader(gw.engine).connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM signing_keys")).scalar_one() == 2
        assert time.monotonic() - started < 5  # a lock wait would take busy_timeout (30 s)


def test_two_writers_queue_instead_of_failing(gw: Gateway) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with gw.engine.begin() as conn:
                conn.execute(text("SELECT COUNT(*) FROM people")).scalar_one()
                time.sleep(0.05)
                conn.execute(
                    text(
                        "INSERT INTO audit_log (at, actor_type, actor_id, action, target_type, target_ref, details) "
                        "VALUES (CURRENT_TIMESTAMP, 't', :n, 'a', 'x', '1', '{}')"
                    ),
                    {"n": str(n)},
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with gw.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_log WHERE actor_type = 't'")).scalar_one() == 4


def _pooled(gw: Gateway) -> tuple[Any, Any]:
    with gw.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return conn.connection._connection_record, conn.connection.dbapi_connection  # type: ignore[union-attr]


def test_postgres_pings_only_connections_that_sat_idle(gw: Gateway, db_kind: str) -> None:
    # issue 12: no round trip before every checkout, but a connection dropped while idle in the pool
    # is still found out and replaced before a request uses it.
    if db_kind != "postgresql":
        pytest.skip("PostgreSQL's pool only")
    record, dbapi = _pooled(gw)
    record.info["idle_since"] = time.monotonic() - engine_module.PING_AFTER_IDLE_S - 1
    dbapi.close()  # the server side went away while the connection sat in the pool
    with gw.engine.connect() as conn:
        assert conn.execute(text("SELECT 2")).scalar_one() == 2
        assert conn.connection.dbapi_connection is not dbapi
    # Checked in just now: not pinged, so a connection that died since fails on first use (and
    # SQLAlchemy discards the pool), which is what proves the ping was skipped.
    record, dbapi = _pooled(gw)
    dbapi.close()
    with pytest.raises(DBAPIError) as failed, gw.engine.connect() as conn:
        conn.execute(text("SELECT 3"))
    assert failed.value.connection_invalidated
    with gw.engine.connect() as conn:
        assert conn.execute(text("SELECT 4")).scalar_one() == 4
