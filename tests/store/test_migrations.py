"""Migrations from empty on both databases, and the schema they build matches the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, text, update
from sqlalchemy.exc import DBAPIError

from gateway.store.engine import alembic_config, make_engine, migrate
from gateway.store.tables import audit_log, metadata
from tests.conftest import database_url_for


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrate_from_empty_matches_metadata(kind: str, tmp_path: Path) -> None:
    url, cleanup = database_url_for(kind, tmp_path)
    engine = make_engine(url)
    try:
        migrate(engine)
        migrate(engine)  # a second start finds nothing to do
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
            assert diff == []
            tables = set(inspect(conn).get_table_names())
        assert {
            "people",
            "provincial_evaluations",
            "information_records",
            "score_history",
            "audit_log",
        } <= tables
        # Down to empty and up again: the downgrade path works too.
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        with engine.connect() as conn:
            assert "people" not in inspect(conn).get_table_names()
        migrate(engine)
    finally:
        engine.dispose()
        cleanup()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_audit_log_is_append_only(kind: str, tmp_path: Path) -> None:
    url, cleanup = database_url_for(kind, tmp_path)
    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(audit_log).values(
                    at=text("CURRENT_TIMESTAMP"),
                    actor_type="t",
                    actor_id="t",
                    action="a",
                    target_type="x",
                    target_ref="1",
                    details={},
                )
            )
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(update(audit_log).values(action="rewritten"))
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(audit_log.delete())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT action FROM audit_log")).scalar_one() == "a"
    finally:
        engine.dispose()
        cleanup()
