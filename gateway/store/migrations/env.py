"""Alembic environment: runs on the connection ``gateway.store.engine.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from gateway.config import Settings
from gateway.store.engine import make_engine
from gateway.store.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(Settings.from_env().effective_database_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run()
