"""What every operation can answer besides its own responses, added to the OpenAPI document in
one place so that present and future routes are described as the server really behaves:

- any operation with a request body: 400 (``malformed_body``/``json_too_deep``, from the bounded
  JSON parser) and 413 (the body limit), both ``application/problem+json``;
- every operation: 503 with ``Retry-After`` while the database is unavailable;
- 422 is served as ``application/problem+json`` with the ``errors`` list, never FastAPI's
  ``application/json`` ``HTTPValidationError``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["install_openapi_fixups"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_VALIDATION_REF = {"$ref": "#/components/schemas/ValidationProblem"}
_NEVER_503 = frozenset({"/healthz", "/problems/{code}"})
_METHODS = ("get", "put", "post", "delete", "patch")

_VALIDATION_PROBLEM = {
    "title": "ValidationProblem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "message"],
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "Dotted path of schema member names and indexes; `*` for a caller's key.",
                    },
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
}


def _problem(
    description: str, ref: dict[str, str] = _PROBLEM_REF, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/problem+json": {"schema": ref}}}
    if headers:
        out["headers"] = headers
    return out


def fix_document(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", _PROBLEM)
    schemas["ValidationProblem"] = _VALIDATION_PROBLEM
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _problem(responses["422"].get("description") or "Validation failed", _VALIDATION_REF)
            if "requestBody" in op:
                responses.setdefault("400", _problem("Malformed request"))
                responses.setdefault("413", _problem("Payload too large"))
            if path not in _NEVER_503:
                retry = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
                responses.setdefault("503", _problem("Unavailable", headers=retry))
    return doc


def install_openapi_fixups(app: FastAPI) -> None:
    generate = app.openapi
    fixed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not fixed:
            fixed.append(fix_document(generate()))
        return fixed[0]

    app.openapi = openapi  # type: ignore[method-assign]
