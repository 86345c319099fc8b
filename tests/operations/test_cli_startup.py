"""Start-up problems are one line and exit status 2; ``--version``; ``gateway doctor`` (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import __version__
from gateway.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(__import__("os").environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("GATEWAY_MODE", "staging", "GATEWAY_MODE"),
        ("GATEWAY_PARTNERS_DIR", "/nonexistent/partners", "GATEWAY_PARTNERS_DIR"),
        ("GATEWAY_DATABASE_URL", "not a url", "GATEWAY_DATABASE_URL"),
        ("GATEWAY_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none", "GATEWAY_DATABASE_URL"),
        ("GATEWAY_ISSUER", "http://plain.example", "GATEWAY_ISSUER"),
    ],
)
def test_startup_problem_is_one_line_exit_2(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str, value: str, named: str
) -> None:
    monkeypatch.setenv(setting, value)
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert named in err
    assert "nobody" not in err  # the URL (it may carry a password) is never echoed


def test_debug_shows_the_exception(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_MODE", "staging")
    with pytest.raises(Exception, match="GATEWAY_MODE"):
        main(["--debug", "keys", "list"])


def test_doctor_reports_every_check(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list"]) == 0  # builds the embedded database and the development keys
    capsys.readouterr()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("configuration", "partner files", "database", "migrations", "keys"):
        assert f"ok    {name}:" in out


def test_doctor_names_what_is_wrong(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_PARTNERS_DIR", str(env / "missing"))
    assert main(["doctor"]) == 2
    out = capsys.readouterr().out
    assert "FAIL  partner files:" in out and "GATEWAY_PARTNERS_DIR" in out
    # A fresh database that was never migrated is reported too.
    assert "FAIL  migrations:" in out and "gateway migrate" in out
