"""After a real ingestion run, no raw ID number or name is anywhere in the database or the logs."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, table, text

from gateway.api.app import create_app
from gateway.services.context import Gateway
from gateway.services.operations.logs import JsonFormatter
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.services.scores.officer import score_view
from gateway.services.scores.scoring import recompute_all
from gateway.synth import generate
from tests.support.partners import access_token


def _forms(value: str) -> list[bytes]:
    """The ways a value could be stored: UTF-8 text, and JSON with non-ASCII escaped."""
    escaped = json.dumps(value)[1:-1]
    forms = {value.encode("utf-8"), escaped.encode("ascii")}
    return sorted(forms)


def _dump_database(gw: Gateway) -> bytes:
    chunks: list[bytes] = []
    with gw.engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            cols = [c["name"] for c in inspect(conn).get_columns(name)]
            for row in conn.execute(select(*[text(f'"{c}"') for c in cols]).select_from(table(name))):
                chunks.append(repr(tuple(row)).encode("utf-8"))
                chunks.append(json.dumps([str(v) for v in row]).encode("ascii"))
    if gw.engine.dialect.name == "sqlite":
        db = Path(str(gw.engine.url.database))
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def test_no_raw_id_number_or_name_in_database_or_logs(
    gw: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The production log format too (issue 13): every line as it would be written, one JSON object each.
    json_lines = io.StringIO()
    json_handler = logging.StreamHandler(json_lines)
    json_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(json_handler)
    secrets_seen: list[str] = []
    population = tmp_path / "population"
    generate(120, 7, population, date(2026, 6, 1))
    manifest = json.loads((population / "manifest.json").read_text())
    with TestClient(create_app(gw)) as client:
        keys = {f["unit"]: access_token(client, f["unit"]) for f in manifest["files"]}
        secrets_seen.extend(keys.values())
        for f in manifest["files"]:
            body = (population / f["path"]).read_bytes()
            resp = client.post(
                "/v1/ingest/records",
                content=body,
                headers={
                    "Authorization": f"Bearer {keys[f['unit']]}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            assert resp.status_code == 200, resp.text
            assert resp.json()["rejected"] == 0
        with (population / "residents.csv").open(encoding="utf-8") as fh:
            residents = list(csv.DictReader(fh))
        # The exchange writes too: consents, the disclosure log, issued assertions.
        bank = access_token(client, "sx-example-bank")
        secrets_seen.append(bank)
        issued = 0
        for person in residents[:40]:
            id_token = DevIdentityProvider(gw.settings).issue_id_token(person["id_number"], person["name"])
            # The resident authorises scoring in the app first (issue 9), then consents.
            client.post(
                "/v1/me/authorisation", json={"channel": "app"}, headers={"Authorization": f"Bearer {id_token}"}
            ).raise_for_status()
            secrets_seen.append(id_token)
            client.post(
                "/v1/me/consents",
                json={
                    "audience": "sx-example-bank",
                    "purposes": ["loan_discount"],
                    "disclosure": "score",
                    "valid_days": 30,
                    "channel": "app",
                },
                headers={"Authorization": f"Bearer {id_token}"},
            ).raise_for_status()
            resp = client.post(
                "/v1/assertions",
                json={
                    "subject": {"id_number": person["id_number"], "name": person["name"]},
                    "purpose": "loan_discount",
                    "disclosure": "score",
                },
                headers={"Authorization": f"Bearer {bank}"},
            )
            issued += resp.status_code == 201
            if resp.status_code == 201:
                secrets_seen.append(resp.json()["assertion"])
        assert issued > 10
    recompute_all(gw, as_of=date(2026, 6, 1))
    score_view(gw, "officer-scan", residents[0]["id_number"], purpose="privacy scan", case_ref="SCAN-1")

    stored = _dump_database(gw)
    logging.getLogger().removeHandler(json_handler)
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records).encode("utf-8")
    written = json_lines.getvalue()
    for line in written.splitlines():
        json.loads(line)  # one JSON object per line
    logged += written.encode("utf-8")
    # No bearer token, ID token or assertion, and no private key, reached a log line.
    assert len(secrets_seen) > 40
    for secret in secrets_seen:
        assert secret.encode() not in logged and secret.split(".")[2].encode() not in logged
    for pem in gw.settings.keys_dir.glob("*.pem"):
        body = "".join(pem.read_text().splitlines()[1:-1])
        assert body[:40].encode() not in logged and body.encode() not in stored
    assert len(stored) > 10_000 and residents
    for person in residents:
        for value in (
            person["id_number"],
            person["id_number"].lower(),
            person["id_number"][:17],
            person["name"],
        ):
            for form in _forms(value):
                assert form not in stored, "a raw ID number or name reached the database"
                assert form not in logged, "a raw ID number or name reached the logs"
