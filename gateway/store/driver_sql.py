"""The driver's own cursor for the few statements every request on the hot paths runs (issue 12).

A prebuilt SQLAlchemy statement still goes through SQLAlchemy's execution path on every call
(execution context, parameter processing, result wrapping): under a profile of issuance that was
about as much time as the statements themselves took in SQLite. These statements are plain SQL
written once in the ``?`` style and sent through the DBAPI cursor of the caller's connection, in
the caller's transaction, so they commit or roll back with everything else.

Only writes and simple lookups use this; values are given in the form each driver expects
(:func:`stamp` writes a timestamp exactly as SQLAlchemy's ``DateTime`` stores it on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

__all__ = ["execute", "stamp"]

_PG_TEXT: dict[str, str] = {}


def _for(conn: Connection, sql: str) -> str:
    if conn.dialect.name == "sqlite":
        return sql
    found = _PG_TEXT.get(sql)
    if found is None:  # psycopg's placeholder; no statement here contains a literal "?" or "%"
        found = _PG_TEXT.setdefault(sql, sql.replace("?", "%s"))
    return found


def execute(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on the connection's driver cursor; the rows it returns."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_for(conn, sql), params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    finally:
        cursor.close()


def stamp(conn: Connection, value: datetime) -> Any:
    """A timestamp as the driver takes it: on SQLite the text SQLAlchemy's ``DateTime`` writes
    (UTC, no offset), so that rows written here compare and read back like every other row."""
    if conn.dialect.name == "sqlite":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
