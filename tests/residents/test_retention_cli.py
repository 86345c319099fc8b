"""`gateway retention run` as a newcomer runs it: deletes what is due and prints the counts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.cli import main
from gateway.config import Settings
from gateway.services.context import Gateway
from gateway.services.scores.ingestion import ingest_batch
from gateway.store.tables import audit_log
from tests.support import make_id, record


@pytest.fixture
def cli_env(gw: Gateway, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", str(settings.database_url))
    return settings


def test_retention_run_deletes_due_quarantined_records(
    cli_env: Settings, gw: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = gw.partners.enabled("sx-public-security")
    assert unit is not None
    batch = [record("residency", {"status": "household_registration"}, ref="q-1", id_number=make_id(seq=951))]
    assert len(ingest_batch(gw, unit, batch).accepted) == 1
    assert main(["retention", "run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unauthorised_records_deleted"] == 0
    # With a zero-day limit the quarantined record is due at once.
    monkeypatch.setenv("GATEWAY_UNAUTHORISED_RETENTION_DAYS", "0")
    assert main(["retention", "run"]) == 0
    out = capsys.readouterr().out
    assert "1 quarantined records and 1 never-authorised people" in out
    with gw.engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(audit_log.c.action))]
    assert actions.count("retention.run") == 2
