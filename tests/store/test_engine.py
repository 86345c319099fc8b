"""Engine behaviour that the services rely on."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from gateway.services.context import Gateway
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
