"""The driver's own cursor for the few statements every request on the hot paths runs (issue 12).

A prebuilt SQLAlchemy statement still goes through SQLAlchemy's execution path on every call
(execution context, parameter processing, result wrapping): under a profile of issuance that was
about as much time as the statements themselves took in SQLite. These statements are plain SQL
written once in the ``?`` style and sent through the DBAPI cursor of the caller's connection, in
the caller's transaction, so they commit or roll back with everything else.

Only writes and simple lookups use this; values are given in the form each driver expects
(:func:`stamp` writes a timestamp exactly as SQLAlchemy's ``DateTime`` stores it on SQLite), and
values read come back in the form SQLAlchemy's types would give (:func:`read_stamp`,
:func:`read_date`, :func:`read_json`; a boolean is ``bool(value)``: SQLite stores 0 or 1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "cursor",
    "execute",
    "execute_many",
    "query",
    "read_date",
    "read_json",
    "read_stamp",
    "sqlite_stamp",
    "stamp",
    "text_for",
]

_PG_TEXT: dict[str, str] = {}
_PG_TEXT_MAX = 256  # the fixed statements; texts built per call (IN lists of any length) are not kept


def text_for(conn: Connection, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the form the connection's driver takes."""
    if conn.dialect.name == "sqlite":
        return sql
    found = _PG_TEXT.get(sql)
    if found is None:  # psycopg's placeholder; no statement here contains a literal "?" or "%"
        found = sql.replace("?", "%s")
        if len(_PG_TEXT) < _PG_TEXT_MAX:
            _PG_TEXT[sql] = found
    return found


def cursor(conn: Connection) -> Any:
    """A cursor of the connection's own driver connection, in the caller's transaction; close it."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def execute(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on the connection's driver cursor; the rows it returns."""
    cur = cursor(conn)
    try:
        cur.execute(text_for(conn, sql), params)
        return list(cur.fetchall()) if cur.description is not None else []
    finally:
        cur.close()


def execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql`` (``?`` placeholders) once per row of ``rows`` on the driver's cursor."""
    cur = cursor(conn)
    try:
        cur.executemany(text_for(conn, sql), rows)
    finally:
        cur.close()


def query(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """A lookup through :func:`execute`, inside the connection's transaction: begun first if it has
    not (as SQLAlchemy's autobegin would), so that later statements read the same snapshot."""
    if not conn.in_transaction():
        conn.begin()
    return execute(conn, sql, params)


def read_stamp(value: Any) -> datetime:
    """A ``DateTime`` column as SQLAlchemy returns it: naive UTC from SQLite's text, aware from
    PostgreSQL (callers pass it through :func:`gateway.clock.as_utc` either way)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def read_date(value: Any) -> date:
    """A ``Date`` column: ISO text on SQLite, a ``date`` from PostgreSQL."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def read_json(value: Any) -> Any:
    """A ``JSON`` column holding an array or object: text on SQLite; psycopg has already parsed
    PostgreSQL's JSONB (so a top-level JSON string could not be told apart: none is read here)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def stamp(conn: Connection, value: datetime) -> Any:
    """A timestamp as the driver takes it: on SQLite the text SQLAlchemy's ``DateTime`` writes
    (UTC, no offset), so that rows written here compare and read back like every other row. A
    naive value is refused: ``astimezone`` would take it for the host's local time."""
    if value.tzinfo is None:
        raise ValueError("driver_sql.stamp needs an aware datetime")
    return sqlite_stamp(value) if conn.dialect.name == "sqlite" else value


def sqlite_stamp(value: datetime) -> str:
    """An aware timestamp as SQLAlchemy's ``DateTime`` stores it on SQLite: UTC text, no offset."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
