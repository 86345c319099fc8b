"""The published OpenAPI document: generated from the app, committed under openapi/, and a test
fails when the committed file drifts from what the code serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.api.app import build_app
from gateway.config import PROJECT_ROOT

__all__ = ["OPENAPI_PATH", "openapi_document", "render", "write_openapi"]

OPENAPI_PATH = PROJECT_ROOT / "openapi" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    doc: dict[str, Any] = build_app().openapi()
    return doc


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_openapi(path: Path | None = None) -> Path:
    target = path or OPENAPI_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(openapi_document()), encoding="utf-8")
    return target
