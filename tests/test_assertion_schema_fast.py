"""issue 12: the compiled score-assertion check agrees with jsonschema on valid and broken claims."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.exchange.assertion import _validator
from gateway.services.recognition.assertion_schema import _fast, claims_errors
from tests.support.assertions import city_claims


def _variants() -> list[dict[str, Any]]:
    base = city_claims("hangzhou-credit", "sx-example-bank", "A", score=800, status=("https://x.example/s/1", 7))
    out = [base, city_claims("hangzhou-credit", "sx-example-bank", "A")]
    edits: list[tuple[tuple[str, ...], Any]] = [
        (("iss",), "http://insecure.example"),
        (("iss",), 7),
        (("sub",), "short"),
        (("iat",), -1),
        (("iat",), 1.0e3),
        (("exp",), True),
        (("exp",), 253402300800),
        (("jti",), "x"),
        (("purpose",), "spying"),
        (("tier", "code"), "way-too-long-code-here"),
        (("tier", "label", "zh"), ""),
        (("tier", "label", "fr"), "x"),
        (("tier", "extra"), 1),
        (("regional_tier", "crosswalk", "version"), 1),
        (("score", "max"), 999),
        (("score", "max"), 1000.0),
        (("score", "max"), True),
        (("score", "max"), "1000"),
        (("score", "value"), 1001),
        (("unknown",), "claim"),
        (("status", "status_list", "idx"), -1),
    ]
    for path, value in edits:
        claims = copy.deepcopy(base)
        node = claims
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        out.append(claims)
    for name in ("iss", "tier", "score_as_of", "jurisdiction"):
        claims = copy.deepcopy(base)
        del claims[name]
        out.append(claims)
    return out


def test_the_schema_compiles_and_the_variants_cover_both_answers() -> None:
    assert _fast() is not None
    answers = [_validator().is_valid(c) for c in _variants()]
    assert answers.count(True) >= 2 and answers.count(False) >= 20


@pytest.mark.parametrize("claims", _variants())
def test_fast_check_agrees_with_jsonschema(claims: dict[str, Any]) -> None:
    fast = _fast()
    assert fast is not None
    assert fast(claims) == _validator().is_valid(claims)
    assert claims_errors(claims) == sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(claims)'}: {e.validator}"
        for e in _validator().iter_errors(claims)
    )
