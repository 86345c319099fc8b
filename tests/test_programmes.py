"""Programmes as data: the shipped examples load, every broken file is refused with its rule, and a
rule grants the best benefit whose threshold a level reaches."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.config import PROJECT_ROOT
from gateway.exchange.tiers import load_mappings
from gateway.partners import PartnerRegistry
from gateway.services.recognition.programmes import InvalidProgramme, Programme, Programmes, evaluate, load_programmes

SCHEMES = load_mappings(PROJECT_ROOT / "mappings").schemes
PARTNERS = PartnerRegistry(PROJECT_ROOT / "partners")
SHIPPED = PROJECT_ROOT / "partners" / "programmes"
BASE: dict[str, Any] = json.loads((SHIPPED / "sx-scenic-example-tickets.json").read_text(encoding="utf-8"))


def _load_one(tmp_path: Path, doc: dict[str, Any], name: str | None = None) -> Programmes:
    (tmp_path / f"{name or doc['id']}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return load_programmes(tmp_path, schemes=SCHEMES, partners=PARTNERS)


def _variant(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = doc
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return doc


def test_the_shipped_examples_load_and_say_they_are_examples() -> None:
    programmes = load_programmes(SHIPPED, schemes=SCHEMES, partners=PARTNERS)
    assert set(programmes.by_id) == {
        "sx-example-bank-loan-rate-discount",
        "sx-example-bank-deposit-waiver",
        "sx-example-bank-medical-pay-later",
        "sx-scenic-example-tickets",
    }
    for programme in programmes.by_id.values():
        assert programme.example and "EXAMPLE" in programme.document["source"]
        assert programme.digest.startswith("sha256:")
    kinds = {p.grants[-1].benefit["kind"] for p in programmes.by_id.values()}
    assert kinds == {"loan_rate_discount", "deposit_waiver", "medical_pay_later", "scenic_ticket"}
    assert [p.id for p in programmes.offered_by("sx-scenic-example")] == ["sx-scenic-example-tickets"]
    assert {p.id for p in programmes.offered_by("sx-example-bank", "loan_discount")} == {
        "sx-example-bank-loan-rate-discount"
    }
    assert programmes.offered_by("hangzhou-credit") == []


def test_a_missing_directory_means_no_programmes(tmp_path: Path) -> None:
    assert load_programmes(tmp_path / "absent", schemes=SCHEMES).by_id == {}


BROKEN = {
    "schema: unknown benefit kind": (
        _variant(
            rule__grants=[{"min_level": "good", "benefit": {"kind": "cash", "label": {"zh": "钱", "en": "cash"}}}]
        ),
        "rule.grants",
    ),
    "schema: no purpose": (_variant(purpose=None), "missing purpose"),
    "unpublished scheme": (_variant(rule__scheme="yrd-common/9"), "not published"),
    "common rule on a local scheme": (_variant(rule__scheme="sx-integrity/2026.1"), "needs a common scheme"),
    "local rule on the common scheme": (_variant(rule__basis="local_tier"), "needs a local scheme"),
    "threshold at unrated": (
        _variant(rule__grants=[{"min_level": "unrated", "benefit": BASE["rule"]["grants"][0]["benefit"]}]),
        "not a rated tier",
    ),
    "threshold not in the scheme": (
        _variant(rule__grants=[{"min_level": "superb", "benefit": BASE["rule"]["grants"][0]["benefit"]}]),
        "not a rated tier",
    ),
    "thresholds not rising": (
        _variant(rule__grants=list(reversed(BASE["rule"]["grants"]))),
        "rise strictly",
    ),
    "same threshold twice": (
        _variant(rule__grants=[BASE["rule"]["grants"][0], BASE["rule"]["grants"][0]]),
        "rise strictly",
    ),
    "owner is a city platform": (_variant(owner="hangzhou-credit"), "hangzhou-credit is not"),
    "owner unknown": (_variant(owner="no-such-bank"), "no-such-bank is not"),
    "open to a unit": (_variant(open_to=["sx-transport"]), "sx-transport is not"),
    "dates reversed": (_variant(valid_until="2025-12-31"), "before valid_from"),
}


@pytest.mark.parametrize("case", sorted(BROKEN), ids=str)
def test_a_broken_programme_is_refused_naming_the_rule(tmp_path: Path, case: str) -> None:
    doc, words = BROKEN[case]
    with pytest.raises(InvalidProgramme) as caught:
        _load_one(tmp_path, doc)
    assert words in caught.value.detail


def test_a_programme_file_is_named_after_its_id(tmp_path: Path) -> None:
    with pytest.raises(InvalidProgramme, match="named after its id"):
        _load_one(tmp_path, copy.deepcopy(BASE), name="tickets")


def test_invalid_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{", encoding="utf-8")
    with pytest.raises(InvalidProgramme, match="not valid JSON"):
        load_programmes(tmp_path, schemes=SCHEMES)


def _programme(tmp_path: Path, **changes: Any) -> Programme:
    doc = _variant(**changes)
    return _load_one(tmp_path, doc).by_id[doc["id"]]


def test_the_best_grant_reached_wins_and_unrated_reaches_nothing(tmp_path: Path) -> None:
    tickets = _programme(tmp_path)
    assert tickets.grant_for("low") is None and tickets.grant_for("fair") is None
    assert tickets.grant_for("unrated") is None and tickets.grant_for("no-such-level") is None
    good, outstanding = tickets.grant_for("good"), tickets.grant_for("outstanding")
    assert good is not None and good.benefit["price"] == "half"
    assert outstanding is not None and outstanding.benefit["price"] == "free"


def test_validity_dates_bound_the_programme(tmp_path: Path) -> None:
    dated = _programme(tmp_path, valid_from="2026-03-01", valid_until="2026-03-31")
    assert not dated.in_force(date(2026, 2, 28))
    assert dated.in_force(date(2026, 3, 1)) and dated.in_force(date(2026, 3, 31))
    assert not dated.in_force(date(2026, 4, 1))
    late = evaluate(dated, "outstanding", "outstanding", on=date(2026, 4, 1))
    assert not late.eligible and [r["code"] for r in late.reasons] == ["programme_not_in_force"]
    on_time = evaluate(dated, "outstanding", "outstanding", on=date(2026, 3, 31))
    assert on_time.eligible and [r["code"] for r in on_time.reasons] == ["threshold_met"]


def test_open_to_lets_another_deciding_partner_ask(tmp_path: Path) -> None:
    shared = _programme(tmp_path, open_to=["sx-example-bank"])
    assert shared.offered_to("sx-scenic-example") and shared.offered_to("sx-example-bank")
    assert not shared.offered_to("hangzhou-credit")


def test_evaluation_reasons_name_what_decided(tmp_path: Path) -> None:
    tickets = _programme(tmp_path)
    on = date(2026, 6, 1)
    assert [r["code"] for r in evaluate(tickets, None, "unrated", on=on).reasons] == ["level_unrated"]
    assert [r["code"] for r in evaluate(tickets, None, "good", on=on).reasons] == ["no_equivalent_on_scheme"]
    below = evaluate(tickets, "fair", "fair", on=on)
    assert not below.eligible and below.reasons[0]["code"] == "below_threshold" and "good" in below.reasons[0]["detail"]
    assert below.level == {"basis": "common_level", "scheme": "yrd-common/1", "code": "fair"}
