"""The wheel is self-contained: built from the checkout, installed into a fresh virtual environment
outside it, and ``gateway demo`` run from an empty directory (issue 13, packaging)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gateway.config import PROJECT_ROOT, Settings, bundled_path

pytestmark = pytest.mark.slow


def test_bundled_defaults_are_the_top_level_folders() -> None:
    # One source of truth: the packaged defaults are the checkout's folders, not copies.
    for name in ("schemas", "mappings", "partners"):
        assert bundled_path(name).resolve() == (PROJECT_ROOT / name).resolve()
    settings = Settings.from_env({})
    assert settings.partners_dir == bundled_path("partners")


def test_every_directory_setting_overrides_the_default(tmp_path: Path) -> None:
    env = {
        "GATEWAY_PARTNERS_DIR": str(tmp_path / "p"),
        "GATEWAY_MAPPINGS_DIR": str(tmp_path / "m"),
        "GATEWAY_SCHEMAS_DIR": str(tmp_path / "s"),
    }
    settings = Settings.from_env(env)
    assert (settings.partners_dir, settings.mappings_dir, settings.schemas_dir) == (
        tmp_path / "p",
        tmp_path / "m",
        tmp_path / "s",
    )


def test_wheel_installs_and_runs_the_demo_from_an_empty_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(PROJECT_ROOT)],
        check=True,
        env=pip_env,
        timeout=120,
    )
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for published in [
        *(PROJECT_ROOT / "schemas").glob("*.json"),
        *(PROJECT_ROOT / "mappings").rglob("*.json"),
        *(PROJECT_ROOT / "partners").rglob("*.json"),
    ]:
        assert f"gateway/defaults/{published.relative_to(PROJECT_ROOT)}" in names, published
    assert not any(n.startswith(("schemas/", "partners/", "mappings/", "tests/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        env=pip_env,
        timeout=300,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    run_env = {**pip_env, "PYTHONPATH": "", "PYTHONSAFEPATH": "1"}
    version = subprocess.run(
        [str(venv / "bin" / "gateway"), "--version"], cwd=empty, env=run_env, capture_output=True, text=True
    )
    assert version.returncode == 0 and "0.1.0" in version.stdout
    demo = subprocess.run(
        [str(venv / "bin" / "gateway"), "demo", "--residents", "120"],
        cwd=empty,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "Traceback" not in demo.stderr
    assert "verified offline with the published JWKS" in demo.stdout
    # The installed gateway read its defaults from site-packages, not from this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "from gateway.config import bundled_path; print(bundled_path('schemas'))"],
        cwd=empty,
        env=run_env,
        capture_output=True,
        text=True,
    )
    assert str(venv) in where.stdout and str(PROJECT_ROOT) not in where.stdout
    assert (empty / "gateway-data").is_dir()
