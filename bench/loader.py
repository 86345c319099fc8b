"""Load a synthetic population straight into the store, for ``--recompute-only`` runs (issue 12).

Pushing ten million records through the ingestion service takes most of an hour on a shared 2-core
machine, and ingestion is not what a recompute-only run measures. This writes the rows ingestion
would write — people keyed by the same HMACs, records with the catalogue's initial status and
scoring values, attributes as JSON — with the bare driver (``executemany`` on SQLite, ``COPY`` on
PostgreSQL), without the per-record checks: the generator's records are valid by construction, and
``tests/test_bench_loader.py`` checks that a loaded population scores exactly as an ingested one.
No score is written: the recompute that follows computes everyone.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id

__all__ = ["load_population"]

_BATCH = 20_000
_PEOPLE = ("id", "id_hash", "name_hash", "name_masked", "birth_date", "created_at")
_RECORDS = (
    "person_id", "unit_id", "source_ref", "item_code", "catalogue_version", "status", "occurred_at",
    "value_number", "value_code", "valid_until", "attributes", "received_at",
)  # fmt: skip
_EVALUATIONS = ("person_id", "unit_id", "source_ref", "score", "evaluated_on", "edition", "status", "received_at")


class _Sink:
    """Rows to one table, in batches: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""

    def __init__(self, conn: Any, sqlite: bool, table: str, columns: tuple[str, ...]) -> None:
        self.conn, self.sqlite, self.table, self.columns = conn, sqlite, table, columns
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        cols = ", ".join(self.columns)
        if self.sqlite:
            marks = ", ".join("?" * len(self.columns))
            self.conn.executemany(f"INSERT INTO {self.table} ({cols}) VALUES ({marks})", self.rows)  # noqa: S608
        else:
            with self.conn.cursor() as cur, cur.copy(f"COPY {self.table} ({cols}) FROM STDIN") as copy:
                for row in self.rows:
                    copy.write_row(row)
        self.count += len(self.rows)
        self.rows.clear()


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


def load_population(settings: Settings, population: Path) -> dict[str, Any]:
    """Write the population's people and records; returns counts and seconds."""
    import sqlite3

    from gateway.services.context import Gateway

    started = time.perf_counter()
    gw = Gateway.build(settings, run_migrations=True, background_refresh=False)
    url = settings.effective_database_url
    sqlite = url.startswith("sqlite")
    manifest = json.loads((population / "manifest.json").read_text(encoding="utf-8"))
    if sqlite:
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        stamp: Any = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = psycopg.connect(conninfo)
        stamp = datetime.now(UTC)
    day: dict[str, Any] = {}

    def to_day(text: str) -> Any:
        value = day.get(text)
        if value is None:
            value = datetime.strptime(text, "%Y-%m-%d").date()
            day[text] = text if sqlite else value
            value = day[text]
        return value

    try:
        person_of: dict[str, int] = {}
        people = _Sink(conn, sqlite, "people", _PEOPLE)
        with (population / "residents.csv").open(encoding="utf-8") as fh:
            for pid, row in enumerate(csv.DictReader(fh), start=1):
                rid = parse_resident_id(row["id_number"])
                born = rid.birth_date.isoformat() if sqlite else rid.birth_date
                people.add(
                    (pid, gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(row["name"]), mask_name(row["name"]),
                     born, stamp)
                )  # fmt: skip
                person_of[row["id_number"]] = pid
        people.flush()
        records = _Sink(conn, sqlite, "information_records", _RECORDS)
        evaluations = _Sink(conn, sqlite, "provincial_evaluations", _EVALUATIONS)
        version = gw.catalogue.version
        for f in manifest["files"]:
            unit = gw.partners.enabled(f["unit"])
            if unit is None:
                continue
            for line in _lines(population / f["path"]):
                raw = json.loads(line)
                item = gw.catalogue.item(raw["item"])
                status = item.initial_status_for(unit.unit_kind or "") if item else None
                if item is None or status is None:
                    continue
                pid = person_of[raw["subject"]["id_number"]]
                attrs = raw["attributes"]
                occurred = to_day(raw["occurred_at"])
                if item.code == "provincial_evaluation":
                    evaluations.add(
                        (pid, unit.id, raw["source_ref"], int(attrs["score"]), occurred, attrs.get("edition"), status,
                         stamp)
                    )  # fmt: skip
                    continue
                number, code, until = item.scoring_values(attrs)
                text = json.dumps(attrs, ensure_ascii=False, separators=(",", ":"))
                records.add(
                    (pid, unit.id, raw["source_ref"], item.code, version, status, occurred, number, code,
                     until and to_day(until.isoformat()), text, stamp)
                )  # fmt: skip
        records.flush()
        evaluations.flush()
        conn.execute("COMMIT") if sqlite else conn.commit()
        if sqlite:
            conn.execute("ANALYZE")
        else:
            conn.autocommit = True
            conn.execute("ANALYZE")
            # The people ids were given explicitly: move the sequence past them.
            conn.execute("SELECT setval(pg_get_serial_sequence('people', 'id'), (SELECT max(id) FROM people))")
    finally:
        conn.close()
        gw.close()
    return {
        "loaded": "straight into the store with the bare driver (bench/loader.py), not through ingestion",
        "people": people.count,
        "records": records.count + evaluations.count,
        "seconds": round(time.perf_counter() - started, 1),
    }
