"""The CLI end to end on a small synthetic population: synth, ingest, recompute, score."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Settings
from gateway.services.context import Gateway


@pytest.fixture
def cli_env(gw: Gateway, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # ``gw`` has migrated the database; the CLI builds its own context from the environment.
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", str(settings.database_url))
    return settings


def test_synth_ingest_recompute_score(cli_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pop"
    assert main(["synth", "--residents", "60", "--seed", "5", "--out", str(out), "--as-of", "2026-06-01"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["residents"] == 60

    assert main(["ingest", str(out), "--no-recompute"]) == 0
    text = capsys.readouterr().out
    assert f"total: {manifest['records']} accepted, 0 duplicates, 0 rejected" in text

    assert main(["ingest", str(out)]) == 0  # a second time: everything is a duplicate
    assert f"total: 0 accepted, {manifest['records']} duplicates" in capsys.readouterr().out

    assert main(["recompute", "--as-of", "2026-06-01", "--quiet"]) == 0
    assert "recomputed 60 people" in capsys.readouterr().out

    with (out / "residents.csv").open(encoding="utf-8") as fh:
        resident = next(csv.DictReader(fh))
    assert main(["score", resident["id_number"], "--purpose", "loan review", "--case", "C-1", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["person"]["name_masked"].startswith(resident["name"][0])
    assert resident["id_number"] not in json.dumps(view, ensure_ascii=False)


def test_score_reports_problems_by_code(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "330602199001011234", "--purpose", "p", "--case", "c"]) == 1
    err = capsys.readouterr().err
    assert "invalid_id_number" in err and "330602199001011234" not in err


def test_credentials_create_and_revoke(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credentials", "create", "officer", "officer-12"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("gwk.")
    assert main(["credentials", "revoke", key.split(".")[1]]) == 0
    assert main(["credentials", "revoke", key.split(".")[1]]) == 1
    with pytest.raises(SystemExit):  # partners have no API keys any more
        main(["credentials", "create", "unit", "sx-transport"])


def test_recompute_frees_status_slots_of_long_expired_assertions(
    cli_env: Settings, gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from gateway.clock import utcnow
    from gateway.store.tables import status_slots

    now = utcnow()
    with gw.engine.begin() as conn:
        conn.execute(
            insert(status_slots),
            [
                {
                    "list_id": 1,
                    "idx": 7,
                    "jti": "old-one-xxxxxxxxxxxx",
                    "status": 0,
                    "expires_at": now - timedelta(days=2),
                    "updated_at": now,
                },
                {
                    "list_id": 1,
                    "idx": 8,
                    "jti": "live-one-xxxxxxxxxxx",
                    "status": 0,
                    "expires_at": now + timedelta(days=2),
                    "updated_at": now,
                },
            ],
        )
    assert main(["recompute"]) == 0
    assert "freed 1 status-list slots" in capsys.readouterr().err
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(status_slots)).scalar_one() == 1
