"""People, keyed by the HMAC of their ID number."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from gateway.store import driver_sql
from gateway.store.tables import people

__all__ = [
    "NewPerson",
    "PersonRow",
    "birth_dates_in_range",
    "chunk_bounds",
    "ensure_people",
    "find_person",
    "lock_people",
    "lock_people_in_range",
]

_IN_CHUNK = 500  # keeps IN lists well under SQLite's and psycopg's parameter limits


@dataclass(frozen=True, slots=True)
class NewPerson:
    id_hash: str
    name_hash: str
    name_masked: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    id_hash: str
    name_hash: str
    name_masked: str
    birth_date: date


_ENSURE_SQL = (
    "INSERT INTO people (id_hash, name_hash, name_masked, birth_date, created_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id_hash) DO NOTHING"
)
_BY_HASH_SQL = "SELECT id, id_hash, name_hash, name_masked, birth_date FROM people WHERE id_hash IN ({marks})"


def ensure_people(conn: Connection, candidates: Iterable[NewPerson]) -> dict[str, PersonRow]:
    """Insert the people not yet known (first writer wins) and return every candidate's row.

    One ``executemany`` and one select per 500 people on the driver's cursor (issue 12: SQLAlchemy's
    parameter processing cost more than the database's work on a 1,000-record batch)."""
    unique = {c.id_hash: c for c in candidates}
    if not unique:
        return {}
    now = driver_sql.stamp(conn, datetime.now(UTC))
    rows: list[tuple[Any, ...]]
    if conn.dialect.name == "sqlite":  # what SQLAlchemy's Date stores: ISO text
        rows = [(c.id_hash, c.name_hash, c.name_masked, c.birth_date.isoformat(), now) for c in unique.values()]
    else:
        rows = [(c.id_hash, c.name_hash, c.name_masked, c.birth_date, now) for c in unique.values()]
    driver_sql.execute_many(conn, _ENSURE_SQL, rows)
    return _rows_by_hash(conn, list(unique))


def _rows_by_hash(conn: Connection, hashes: list[str]) -> dict[str, PersonRow]:
    out: dict[str, PersonRow] = {}
    for i in range(0, len(hashes), _IN_CHUNK):
        chunk = hashes[i : i + _IN_CHUNK]
        sql = _BY_HASH_SQL.format(marks=", ".join("?" * len(chunk)))
        for pid, id_hash, name_hash, masked, born in driver_sql.execute(conn, sql, chunk):
            out[id_hash] = PersonRow(pid, id_hash, name_hash, masked, driver_sql.read_date(born))
    return out


# Issuance looks one person up per request: plain SQL on the driver's cursor, so that SQLAlchemy's
# execution path (a quarter of an issuance's own time with the other two lookups, issue 12) is skipped.
_FIND_PERSON_SQL = "SELECT id, id_hash, name_hash, name_masked, birth_date FROM people WHERE id_hash = ?"
_FIND_PERSON_FOR_UPDATE_SQL = _FIND_PERSON_SQL + " FOR UPDATE"
_LOCK_PERSON = select(people.c.id).where(people.c.id == bindparam("pid")).with_for_update()


def find_person(conn: Connection, id_hash: str, *, lock: bool = False) -> PersonRow | None:
    """The person with this keyed hash. With ``lock``, the row is also locked on PostgreSQL as
    :func:`lock_people` would lock it (one round trip instead of two); SQLite needs no lock."""
    sql = _FIND_PERSON_FOR_UPDATE_SQL if lock and conn.dialect.name == "postgresql" else _FIND_PERSON_SQL
    rows = driver_sql.query(conn, sql, (id_hash,))
    if not rows:
        return None
    pid, found_hash, name_hash, masked, born = rows[0]
    return PersonRow(pid, found_hash, name_hash, masked, driver_sql.read_date(born))


def lock_people(conn: Connection, person_ids: Iterable[int]) -> None:
    """Serialise writers per person on PostgreSQL, in id order so two batches cannot deadlock.

    Without it two processes ingesting for one person could each recompute from a snapshot that
    lacks the other's record, and the later commit would leave a stale current score. SQLite
    needs nothing: BEGIN IMMEDIATE already serialises writers.
    """
    if conn.dialect.name != "postgresql":
        return
    ids = sorted(set(person_ids))
    if len(ids) == 1:  # the common case (one request, one person): the statement built once
        conn.execute(_LOCK_PERSON, {"pid": ids[0]}).all()
        return
    for i in range(0, len(ids), _IN_CHUNK):
        conn.execute(
            select(people.c.id).where(people.c.id.in_(ids[i : i + _IN_CHUNK])).order_by(people.c.id).with_for_update()
        ).all()


def birth_dates(conn: Connection, person_ids: list[int]) -> Mapping[int, date]:
    out: dict[int, date] = {}
    for i in range(0, len(person_ids), _IN_CHUNK):
        chunk = person_ids[i : i + _IN_CHUNK]
        for pid, born in conn.execute(select(people.c.id, people.c.birth_date).where(people.c.id.in_(chunk))):
            out[pid] = born
    return out


def chunk_bounds(conn: Connection, chunk: int) -> Iterator[tuple[int, int]]:
    """(first id, last id) of each run of ``chunk`` people in id order: a full recompute's units."""
    sql = "SELECT id FROM people WHERE id > ? ORDER BY id LIMIT ?"
    last = 0
    while True:
        ids = [r[0] for r in driver_sql.execute(conn, sql, (last, chunk))]
        if not ids:
            return
        last = ids[-1]
        yield ids[0], last


def birth_dates_in_range(conn: Connection, first_id: int, last_id: int) -> list[tuple[int, date]]:
    """(id, birth date) of the people with ``first_id <= id <= last_id``, in id order, read with the
    driver (SQLite hands dates back as text)."""
    sql = "SELECT id, birth_date FROM people WHERE id BETWEEN ? AND ? ORDER BY id"
    rows = driver_sql.execute(conn, sql, (first_id, last_id))
    if conn.dialect.name != "sqlite":
        return [(int(pid), born) for pid, born in rows]
    seen: dict[str, date] = {}  # a chunk's people share a few thousand birth days
    out = []
    for pid, text in rows:
        born = seen.get(text)
        if born is None:
            born = seen[text] = date.fromisoformat(text)
        out.append((pid, born))
    return out


def lock_people_in_range(conn: Connection, first_id: int, last_id: int) -> None:
    """:func:`lock_people` for everyone with ``first_id <= id <= last_id``, in one statement."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT id FROM people WHERE id BETWEEN %(a)s AND %(b)s ORDER BY id FOR UPDATE"
        conn.exec_driver_sql(sql, {"a": first_id, "b": last_id}).all()
