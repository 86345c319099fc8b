"""Defect 10 of issue 15: every status list stays at or under half full, whichever processes
allocate (two services over one database stand for two gateway processes)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.services.exchange.status_lists import StatusListService
from gateway.store.tables import status_slots

SIZE = 64


def _fill(gw: Gateway) -> dict[int, int]:
    with gw.engine.connect() as conn:
        rows = conn.execute(select(status_slots.c.list_id, func.count()).group_by(status_slots.c.list_id)).all()
    return {int(list_id): int(n) for list_id, n in rows}


def test_two_processes_keep_every_list_at_most_half_full(gw: Gateway) -> None:
    settings = replace(gw.settings, status_list_size=SIZE)
    services = [StatusListService(settings, gw.engine, gw.keyring) for _ in range(2)]
    expires = utcnow() + timedelta(hours=1)
    errors: list[BaseException] = []

    def issue(service: StatusListService, prefix: str) -> None:
        try:
            for i in range(80):
                with gw.engine.begin() as conn:
                    service.allocate(conn, jti=f"{prefix}-{i}", expires_at=expires)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(s, f"p{n}")) for n, s in enumerate(services)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    fill = _fill(gw)
    assert sum(fill.values()) == 160
    assert all(n <= SIZE // 2 for n in fill.values()), fill
    assert len(fill) == 5  # 160 slots at 32 a list: the lists are used up, not skipped


def test_purged_places_are_reused(gw: Gateway) -> None:
    settings = replace(gw.settings, status_list_size=SIZE)
    service = StatusListService(settings, gw.engine, gw.keyring)
    soon = utcnow() + timedelta(seconds=1)
    for i in range(SIZE // 2):
        with gw.engine.begin() as conn:
            assert service.allocate(conn, jti=f"old-{i}", expires_at=soon)[0] == 1
    assert service.purge_expired(now=utcnow() + timedelta(hours=1)) == SIZE // 2
    fresh = StatusListService(settings, gw.engine, gw.keyring)  # another process, counting anew
    with gw.engine.begin() as conn:
        assert fresh.allocate(conn, jti="new", expires_at=utcnow() + timedelta(hours=1))[0] == 1
