"""The package's public surface and its import boundary."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gateway.exchange as exchange

PACKAGE = Path(exchange.__file__).resolve().parent
FORBIDDEN = {"fastapi", "starlette", "sqlalchemy"}


def test_all_is_sorted_complete_and_importable() -> None:
    assert exchange.__all__ == sorted(exchange.__all__, key=lambda name: (not name.isupper(), name))
    for name in exchange.__all__:
        assert getattr(exchange, name) is not None
    public = {name for name in vars(exchange) if not name.startswith("_") and name[0].isupper()}
    modules = {"annotations"}
    assert public - modules <= set(exchange.__all__)


def test_no_web_framework_or_database_imports() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {name.split(".")[0] for name in names} & FORBIDDEN, path.name


def test_importing_the_package_loads_none_of_them() -> None:
    code = "import sys, gateway.exchange; print(sorted({m.split('.')[0] for m in sys.modules}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not set(eval(result.stdout)) & FORBIDDEN


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name
