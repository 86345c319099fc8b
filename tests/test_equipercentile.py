"""Equipercentile linking on synthetic distributions with a known answer, and the proposal CLI."""

from __future__ import annotations

import json
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.config import PROJECT_ROOT
from gateway.exchange.equipercentile import InvalidDistribution, parse_distribution, propose_crosswalk
from gateway.exchange.tiers import load_mappings, validate_crosswalk
from gateway.services.recognition.crosswalks import check_document

VECTORS = Path(__file__).parent / "vectors" / "equipercentile"
SCHEMES = load_mappings(PROJECT_ROOT / "mappings").schemes
COMMON = SCHEMES["yrd-common/1"]
DAY = date(2026, 3, 1)


def _vector(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return doc


def _cuts(document: dict[str, Any]) -> dict[str, int]:
    return {band["common"]: band["min_score"] for band in document["to_common"]}


@pytest.mark.parametrize("name", ["shifted-normal", "uniform", "quantiles"])
def test_cut_points_match_the_known_answer(name: str) -> None:
    v = _vector(name)
    proposal = propose_crosswalk(v["local"], v["reference"], common_scheme=COMMON, effective_from=DAY)
    cuts = _cuts(proposal.document)
    assert cuts.keys() == v["expected_cuts"].keys()
    for level, expected in v["expected_cuts"].items():
        assert abs(cuts[level] - expected) <= v["tolerance"], (level, cuts[level], expected)
    # The bands tile the local scale: each starts where the one above ends.
    bands = sorted((b["min_score"], b["max_score"]) for b in proposal.document["to_common"])
    assert all(hi + 1 == lo for (_, hi), (lo, _) in pairwise(bands))


def test_a_shift_of_the_whole_distribution_shifts_every_cut_point() -> None:
    v = _vector("shifted-normal")
    proposal = propose_crosswalk(v["local"], v["reference"], common_scheme=COMMON, effective_from=DAY)
    anchors = {a["level"]: a["min_score"] for a in v["reference"]["anchors"]}
    for level, cut in _cuts(proposal.document).items():
        if level != "low":  # the lowest level starts at the bottom of the local scale
            assert abs(cut - (anchors[level] + 100)) <= 20
    # Each band holds the reference's share of people at or above its level, to within one bin.
    for p in proposal.levels:
        assert abs(p.local_share - p.reference_share) < 0.02


def test_a_proposal_on_shaoxings_scale_is_a_valid_crosswalk_draft() -> None:
    v = _vector("uniform")
    local = SCHEMES["sx-integrity/2026.1"]
    proposal = propose_crosswalk(
        v["local"], v["reference"], local_scheme=local, common_scheme=COMMON, effective_from=DAY
    )
    cw = validate_crosswalk(proposal.document, local, COMMON)
    assert cw.common_level(score=960) == "outstanding" and cw.common_level(score=949) == "good"
    assert cw.common_level(score=0) == "low" and cw.common_level(score=1000) == "outstanding"
    # from_common: the local tier each band overlaps most (the lower one on a tie).
    assert dict(cw.from_common) == {"outstanding": "A", "good": "B", "fair": "E", "basic": "E", "low": "E"}
    assert proposal.document["provisional"] is True and "Equipercentile" in proposal.document["basis"]
    assert proposal.notes == ()


def test_a_level_no_score_can_separate_gets_no_band() -> None:
    local = {"scale": "x/1", "histogram": [{"min": 0, "max": 99, "count": 10}]}
    reference = {
        "common_scheme": "yrd-common/1",
        "anchors": [
            {"level": "outstanding", "share_at_or_above": 0},
            {"level": "good", "share_at_or_above": 0.5},
            {"level": "fair", "share_at_or_above": 0.5},
            {"level": "basic", "share_at_or_above": 0.8},
            {"level": "low", "share_at_or_above": 1},
        ],
    }
    proposal = propose_crosswalk(local, reference, common_scheme=COMMON, effective_from=DAY)
    bands = {p.level: p.band for p in proposal.levels}
    assert bands == {"outstanding": None, "good": (50, 99), "fair": None, "basic": (20, 49), "low": (0, 19)}
    assert any("outstanding" in n for n in proposal.notes) and any("fair" in n for n in proposal.notes)
    assert any("from_common" in n for n in proposal.notes)  # no local scheme with bands: left to fill in


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ([], "JSON object"),
        ({"histogram": [], "extra": 1}, "unknown member"),
        ({}, "exactly one of histogram or quantiles"),
        ({"histogram": [{"min": 0, "max": 9, "count": 1}], "quantiles": []}, "exactly one"),
        ({"histogram": [{"min": 0, "max": 9, "count": 1}, {"min": 5, "max": 19, "count": 1}]}, "overlap"),
        ({"histogram": [{"min": 10, "max": 9, "count": 1}]}, "min <= max"),
        ({"histogram": [{"min": 0, "max": 9, "count": -1}]}, "count >= 0"),
        ({"histogram": [{"min": 0, "max": 9, "count": 0}]}, "counts nobody"),
        ({"histogram": [{"min": 0, "max": 9, "count": True}]}, "finite number"),
        ({"histogram": [{"min": 0.5, "max": 9, "count": 1}]}, "integer"),
        ({"histogram": [{"min": 0, "max": 9, "count": 1}], "score_range": {"min": 5, "max": 9}}, "contain every"),
        ({"quantiles": [{"p": 0, "score": 1}, {"p": 0, "score": 2}]}, "rise strictly"),
        ({"quantiles": [{"p": 0, "score": 5}, {"p": 1, "score": 2}]}, "must not fall"),
        ({"quantiles": [{"p": 0.1, "score": 1}, {"p": 1, "score": 2}]}, "start at p = 0"),
    ],
)
def test_malformed_distributions_are_refused_naming_the_rule(doc: Any, fragment: str) -> None:
    with pytest.raises(InvalidDistribution) as err:
        parse_distribution(doc, "local")
    assert fragment in err.value.detail
    assert err.value.status == 422 and err.value.code == "invalid_distribution"


@pytest.mark.parametrize(
    ("anchors", "fragment"),
    [
        ([{"level": "good", "share_at_or_above": 0.5}, {"level": "low", "share_at_or_above": 0.2}], "must not fall"),
        ([{"level": "good", "share_at_or_above": 0.5}, {"level": "low", "share_at_or_above": 0.9}], "everybody"),
        ([{"level": "good", "share_at_or_above": 0.5}, {"level": "good", "share_at_or_above": 1}], "twice"),
        ([{"level": "good", "min_score": 700}, {"level": "low", "share_at_or_above": 1}], "needs a histogram"),
        ([{"level": "good", "share_at_or_above": 0.5}, {"level": "low", "share_at_or_above": 1}], "in order"),
    ],
)
def test_malformed_anchors_are_refused(anchors: list[dict[str, Any]], fragment: str) -> None:
    local = {"scale": "x/1", "histogram": [{"min": 0, "max": 99, "count": 10}]}
    with pytest.raises(InvalidDistribution) as err:
        propose_crosswalk(local, {"anchors": anchors}, common_scheme=COMMON, effective_from=DAY)
    assert fragment in err.value.detail


def test_the_cli_writes_a_draft_that_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = _vector("uniform")
    (tmp_path / "local.json").write_text(json.dumps(v["local"]), encoding="utf-8")
    (tmp_path / "common.json").write_text(json.dumps(v["reference"]), encoding="utf-8")
    out = tmp_path / "draft.json"
    args = ["mappings", "crosswalk-propose", "--local", str(tmp_path / "local.json")]
    args += ["--common", str(tmp_path / "common.json"), "--effective-from", "2026-03-01", "--out", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "outstanding  950–1000" in err and "the draft validates" in err
    draft = json.loads(out.read_text(encoding="utf-8"))
    assert draft["id"] == "sx-integrity-yrd-common" and draft["effective_from"] == "2026-03-01"
    assert check_document(draft, SCHEMES).to_common_by_band[0] == (0, 99, "low")
    assert main(["mappings", "validate", str(out)]) == 0
    assert "valid: sx-integrity-yrd-common v1 sha256:" in capsys.readouterr().out


def test_the_cli_reports_a_bad_distribution_by_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "local.json").write_text(json.dumps({"histogram": []}), encoding="utf-8")
    (tmp_path / "common.json").write_text("{}", encoding="utf-8")
    args = ["mappings", "propose", "--local", str(tmp_path / "local.json"), "--common", str(tmp_path / "common.json")]
    assert main(args) == 1
    assert "invalid_distribution" in capsys.readouterr().err
