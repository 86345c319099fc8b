"""schemas/score-assertion.schema.json: a valid 2020-12 schema, closed at every level."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from gateway.exchange import TYP_SCORE_ASSERTION, TokenVerifier
from tests.exchange.exchange_support import AUDIENCE, ISSUER, Clock, Tokens, load_vector

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "score-assertion.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
OPTIONAL = {"score", "status"}


def objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value)


def test_schema_is_valid_and_identified() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == "https://score-gateway.shaoxing.example/schemas/score-assertion.schema.json"
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_object_is_closed_and_requires_all_but_the_optional_members() -> None:
    schema_objects = [node for node in objects({k: v for k, v in SCHEMA.items() if k != "examples"})]
    assert (
        len(schema_objects) == 9
    )  # root, tier, regional_tier, crosswalk, score, jurisdiction, status, status_list, bilingual
    for node in schema_objects:
        assert node.get("additionalProperties") is False, node.get("description", node)
    assert set(SCHEMA["required"]) == set(SCHEMA["properties"]) - OPTIONAL


def test_examples_validate() -> None:
    for example in [*SCHEMA["examples"], load_vector("score-assertion-claims.json")]:
        assert list(VALIDATOR.iter_errors(example)) == []
    minimal = {k: v for k, v in SCHEMA["examples"][0].items() if k not in OPTIONAL}
    assert list(VALIDATOR.iter_errors(minimal)) == []


def _mutations() -> list[tuple[str, Any]]:
    return [
        ("aud", [AUDIENCE]),
        ("iss", "http://score-gateway.shaoxing.example"),
        ("sub", "110101199003077777"),
        ("sub", "A" * 44),
        ("iat", 1.5),
        ("exp", "1767229200"),
        ("purpose", "marketing"),
        (
            "tier",
            {"scheme": "sx-integrity/2026.1", "code": "AA", "label": {"zh": "优", "en": "Good", "fr": "Bon"}},
        ),
        ("score", {"value": 1001, "max": 1000, "model": "m"}),
        ("score", {"value": 800, "max": 900, "model": "m"}),
        ("score", {"value": 800, "max": 1000}),
        ("jurisdiction", {"city": "330600", "province": "330000", "name": {"zh": "绍兴市"}}),
        ("status", {"status_list": {"idx": -1, "uri": "https://x.example/1"}}),
        ("status", {"status_list": {"idx": 1, "uri": "https://x.example/1", "extra": 1}}),
        ("name", "张三"),
        ("id_number", "330602199005171234"),
    ]


@pytest.mark.parametrize(("claim", "value"), _mutations())
def test_contract_violations_are_rejected(claim: str, value: Any) -> None:
    instance = dict(SCHEMA["examples"][0])
    instance[claim] = value
    assert list(VALIDATOR.iter_errors(instance)) != []


@pytest.mark.parametrize("claim", sorted(set(SCHEMA["required"])))
def test_required_claims(claim: str) -> None:
    instance = {k: v for k, v in SCHEMA["examples"][0].items() if k != claim}
    assert list(VALIDATOR.iter_errors(instance)) != []


def test_a_signed_and_verified_assertion_matches_the_contract(tokens: Tokens, clock: Clock) -> None:
    verifier = TokenVerifier(typ=TYP_SCORE_ASSERTION, audience=AUDIENCE, issuer=ISSUER, now=clock)
    verified = verifier.verify(tokens.sign(tokens.claims()), tokens.key_set("issuer-es256"))
    assert list(VALIDATOR.iter_errors(dict(verified.claims))) == []
