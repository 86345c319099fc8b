"""Defect 8 of issue 15: ``gateway serve`` migrates an empty database first, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from gateway.cli import main
from gateway.config import Settings
from gateway.store.engine import make_engine


def test_serve_on_an_empty_database_migrates_it(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", str(settings.database_url))
    monkeypatch.delenv("GATEWAY_ID_PEPPER", raising=False)
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(sockets))
    assert main(["serve", "--host", "127.0.0.1", "--port", "0"]) == 0
    assert served, "the server was started"
    engine = make_engine(str(settings.database_url))
    try:
        assert {"signing_keys", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
