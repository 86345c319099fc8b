"""'What would change my tier' against hand-computed cases (tests/vectors/residents/tier-explanation.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.scoring import load_default_model
from gateway.scoring.explain import explain_tier

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "residents" / "tier-explanation.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_tier_explanation(case: dict[str, Any]) -> None:
    model = load_default_model()
    assert model.version in VECTORS["model"]
    result = explain_tier(model, case["score"], case["points"])
    assert result.tier == case["tier"]
    assert result.next_tier == case["next_tier"]
    assert result.points_to_next_tier == case["points_to_next_tier"]
    assert result.reachable == case["reachable"]
    rows = {r.code: r for r in result.indicators}
    assert list(rows) == [i.code for i in model.indicators]  # every indicator, in model order
    for code, want in case["expect"].items():
        row = rows[code]
        assert row.direction == want["direction"], code
        assert row.headroom == want["headroom"], code
        assert row.effective_headroom == want["effective"], code
        if "points" in want:
            assert row.points == want["points"]
        if "max_age_days" in want:
            assert row.max_age_days == want["max_age_days"]
