"""Builders for the residents' tests: enrolling a person without an authorisation, logging in,
and scanning every table for anything left about a person."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store import people as people_store
from gateway.store.tables import metadata
from tests.support import basic_records

OFFICER_WHY = {"purpose": "loan application review", "case_reference": "CASE-2026-001"}


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(gw: Gateway, idn: str, name: str) -> dict[str, str]:
    return h(DevIdentityProvider(gw.settings).issue_id_token(idn, name))


def enrol_without_authorisation(client: TestClient, keys: dict[str, str], idn: str, name: str) -> None:
    """What the units push about an adult resident — residency and the provincial evaluation —
    with no authorisation: the resident gives that themself."""
    for unit, batch in basic_records(idn, name, idn[-6:]).items():
        if unit == "sx-credit-center":
            continue
        resp = client.post("/v1/ingest/records", json=batch, headers=h(keys[unit]))
        assert resp.json()["accepted"] == 1, resp.text


def person_of(gw: Gateway, idn: str) -> people_store.PersonRow | None:
    rid = parse_resident_id(idn)
    with gw.engine.connect() as conn:
        return people_store.find_person(conn, gw.hasher.id_hash(rid.normalised))


def _refers(table: str, row: Any, person_id: int, id_hash: str) -> bool:
    if row.get("person_id") == person_id or (table == "people" and row["id"] == person_id):
        return True
    return any(isinstance(v, str) and id_hash in v for v in row.values())


def traces(gw: Gateway, person_id: int, id_hash: str) -> dict[str, int]:
    """Rows in any table that still refer to the person: a person_id column holding their id, or
    any column holding their keyed hash. (The append-only audit log refers to people by internal
    number only; it is checked separately.)"""
    found: dict[str, int] = {}
    with gw.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "audit_log":
                continue
            rows: list[Any] = list(conn.execute(select(table)).mappings())
            n = sum(1 for row in rows if _refers(table.name, row, person_id, id_hash))
            if n:
                found[table.name] = n
    return found
