"""Every published data file is valid against its published schema, and every schema is a valid
2020-12 schema whose $id resolves under the gateway's /schemas/ path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from gateway.config import DEFAULT_ISSUER, PROJECT_ROOT

SCHEMAS = PROJECT_ROOT / "schemas"

DATA = [
    ("tier-scheme.schema.json", sorted((PROJECT_ROOT / "mappings" / "schemes").glob("*.json"))),
    ("crosswalk.schema.json", sorted((PROJECT_ROOT / "mappings" / "crosswalks").glob("*.json"))),
    ("partner.schema.json", sorted((PROJECT_ROOT / "partners").glob("*.json"))),
    ("catalogue.schema.json", sorted((PROJECT_ROOT / "gateway" / "catalogue").glob("*.json"))),
    ("scoring-model.schema.json", sorted((PROJECT_ROOT / "gateway" / "scoring" / "models").glob("*.json"))),
    ("programme.schema.json", sorted((PROJECT_ROOT / "partners" / "programmes").glob("*.json"))),
    ("notice.schema.json", sorted((PROJECT_ROOT / "gateway" / "services" / "residents" / "notices").glob("*.json"))),
]


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("schema_path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_schema_is_valid_and_has_a_resolvable_id(schema_path: Path) -> None:
    schema = _load(schema_path)
    assert isinstance(schema, dict)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{DEFAULT_ISSUER}/schemas/{schema_path.name}"


@pytest.mark.parametrize(
    ("schema_name", "path"),
    [(schema, path) for schema, paths in DATA for path in paths],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_published_file_matches_its_schema(schema_name: str, path: Path) -> None:
    validator = Draft202012Validator(_load(SCHEMAS / schema_name))
    errors = sorted(validator.iter_errors(_load(path)), key=lambda e: list(e.absolute_path))
    assert not errors, f"{path.name}: {[e.message for e in errors[:3]]}"


def test_every_data_directory_has_files() -> None:
    for schema_name, paths in DATA:
        assert paths, f"nothing validated against {schema_name}"


def test_a_broken_file_is_caught() -> None:
    validator = Draft202012Validator(_load(SCHEMAS / "partner.schema.json"))
    doc = _load(PROJECT_ROOT / "partners" / "sx-transport.json")
    assert isinstance(doc, dict)
    broken = {**doc, "kind": "bank"}
    assert list(validator.iter_errors(broken))
    unit_without_kind = {k: v for k, v in doc.items() if k != "unit_kind"}
    assert list(validator.iter_errors(unit_without_kind))
