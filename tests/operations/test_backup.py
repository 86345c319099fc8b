"""``gateway backup``: restored into a new data directory, the gateway verifies the assertions it
issued before the backup and serves the same scores (issue 13)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.cli import main
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.services.context import Gateway
from gateway.services.operations.audit_chain import verify_chain, write_anchor
from gateway.services.operations.backup import backup
from gateway.services.scores.officer import score_view
from tests.api.test_assertions import _consent, _enrol
from tests.support import make_id
from tests.support.partners import access_token

BANK = "sx-example-bank"


def test_restore_verifies_old_assertions_and_serves_the_same_scores(
    gw: Gateway, settings: Settings, tmp_path: Path, unit_tokens: dict[str, str], client: TestClient
) -> None:
    if gw.engine.dialect.name != "sqlite":
        pytest.skip("gateway backup is for the embedded SQLite database (PostgreSQL: pg_dump)")
    idn, name = make_id(seq=901), "孙小紫"
    _enrol(client, unit_tokens, idn, name)
    _consent(client, gw, idn, name, BANK, ["loan_discount"], "score")
    issued = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount", "disclosure": "score"},
        headers={"Authorization": f"Bearer {access_token(client, BANK)}"},
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["assertion"]
    before = score_view(gw, "officer-1", idn, purpose="backup check", case_ref="OPS-1")
    write_anchor(gw)

    result = backup(gw.settings, tmp_path / "backup")
    assert {"secrets", "keys"} <= set(result.copied)
    restored_dir = tmp_path / "restored"
    shutil.copytree(tmp_path / "backup", restored_dir)
    restored = Gateway.build(replace(settings, data_dir=restored_dir, database_url=None), run_migrations=True)
    try:
        assert restored.settings.effective_database_url.endswith("restored/gateway.sqlite3")
        after = score_view(restored, "officer-1", idn, purpose="backup check", case_ref="OPS-1")
        assert (after["score"], after["tier"], after["eligible"]) == (
            before["score"],
            before["tier"],
            before["eligible"],
        )
        with TestClient(create_app(restored)) as again:
            jwks = again.get("/.well-known/jwks.json").json()
        kid = jwt.get_unverified_header(token)["kid"]
        key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
        claims = jwt.decode(token, key, algorithms=["ES256"], audience=BANK, issuer=settings.issuer)
        assert claims["score"]["value"] == before["score"]
        assert verify_chain(restored).ok and verify_chain(restored).anchors == 1
    finally:
        restored.close()


def test_backup_refuses_a_non_empty_directory_and_postgresql(gw: Gateway, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ConfigurationError, match="not empty"):
        backup(replace(gw.settings, database_url=None), tmp_path / "full")
    pg = replace(gw.settings, database_url="postgresql+psycopg://u@127.0.0.1/x")
    with pytest.raises(ConfigurationError, match="pg_dump"):
        backup(pg, tmp_path / "pg")


def test_cli_backup(
    gw: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if gw.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", gw.settings.effective_database_url)
    assert main(["backup", str(tmp_path / "b")]) == 0
    assert "backed up the database" in capsys.readouterr().out
    assert (tmp_path / "b" / "gateway.sqlite3").stat().st_mode & 0o077 == 0
