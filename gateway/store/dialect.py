"""The one place that knows SQLite and PostgreSQL spell "insert, ignore conflicts" differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_ignoring_conflicts", "upsert"]


def _insert_for(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_conflicts(conn: Connection, table: Table, index_elements: list[str]) -> Any:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` for either database."""
    return _insert_for(conn, table).on_conflict_do_nothing(index_elements=index_elements)


def upsert(conn: Connection, table: Table, index_elements: list[str], update_columns: list[str]) -> Any:
    """``INSERT … ON CONFLICT (index_elements) DO UPDATE SET col = excluded.col``."""
    stmt = _insert_for(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=index_elements,
        set_={c: getattr(stmt.excluded, c) for c in update_columns},
    )
