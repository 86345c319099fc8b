"""Programmes owned by their providers: the public catalogue, "what could I get", and a bank's
draft → preview → publish → visible in /v1/programmes → used by /v1/eligibility, with ETags,
history, audit and rollback; another partner cannot touch it; purposes outside the list refused."""

from __future__ import annotations

import copy
import json
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.routes.exchange import Purpose
from gateway.config import PROJECT_ROOT
from gateway.services.context import Gateway
from gateway.services.publication.purposes import PURPOSE_CODES
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import audit_log
from tests.publication.support import enrol_population
from tests.support import NAMES, make_id
from tests.support.assertions import city_assertion
from tests.support.partners import access_token

BANK, SCENIC, WZ = "sx-example-bank", "sx-scenic-example", "wenzhou-credit"
SAFE_BOX = "sx-example-bank-safe-box"


def _safe_box(min_level: str = "fair", cap: int = 500) -> dict[str, Any]:
    return {
        "id": SAFE_BOX,
        "version": 1,
        "owner": BANK,
        "example": True,
        "name": {"zh": "示例：保管箱免押金", "en": "Example: safe-box deposit waived"},
        "purpose": "deposit_waiver",
        "rule": {
            "basis": "common_level",
            "scheme": "yrd-common/1",
            "grants": [
                {
                    "min_level": min_level,
                    "benefit": {
                        "kind": "deposit_waiver",
                        "max_deposit_cny": cap,
                        "label": {"zh": f"免押金（最高{cap}元）", "en": f"Deposit waived (up to CNY {cap})"},
                    },
                }
            ],
        },
        "valid_from": "2026-01-01",
        "source": "A test programme.",
    }


def _h(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def _problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code


def test_the_public_catalogue_lists_every_programme_with_its_labels(client: TestClient, gw: Gateway) -> None:
    resp = client.get("/v1/programmes")
    assert resp.status_code == 200
    body = resp.json()
    assert [p["code"] for p in body["purposes"]] == list(PURPOSE_CODES)
    assert all(p["label"]["zh"] and p["label"]["en"] for p in body["purposes"])
    by_id = {p["id"]: p for p in body["programmes"]}
    assert set(by_id) == set(gw.programmes.by_id)
    loan = by_id["sx-example-bank-loan-rate-discount"]
    assert loan["provider"]["id"] == BANK and loan["provider"]["name"]["zh"]
    assert loan["purpose"]["code"] == "loan_discount" and loan["purpose"]["label"]["en"]
    assert [(g["min_level"], g["benefit"]["basis_points"]) for g in loan["grants"]] == [
        ("good", 10),
        ("outstanding", 15),
    ]
    good = gw.mappings.schemes["yrd-common/1"].tier("good")
    assert good is not None and loan["grants"][0]["min_level_label"] == {"zh": good.label_zh, "en": good.label_en}
    assert client.get("/v1/programmes", headers={"If-None-Match": resp.headers["ETag"]}).status_code == 304


def test_what_could_i_get(client: TestClient, gw: Gateway) -> None:
    ids = enrol_population(gw)
    top = DevIdentityProvider(gw.settings).issue_id_token(ids[0], NAMES[0])  # tier B → common level good
    resp = client.get("/v1/me/programmes", headers=_h(top))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tier"]["code"] == "B"
    got = {p["id"]: p["benefit"] for p in body["programmes"]}
    assert got["sx-example-bank-loan-rate-discount"]["basis_points"] == 10
    assert got["sx-example-bank-medical-pay-later"]["credit_line_cny"] == 1000
    assert got["sx-scenic-example-tickets"]["price"] == "half"
    low = DevIdentityProvider(gw.settings).issue_id_token(ids[4], NAMES[4])  # tier E: nothing
    assert client.get("/v1/me/programmes", headers=_h(low)).json()["programmes"] == []
    stranger = DevIdentityProvider(gw.settings).issue_id_token(make_id(seq=987), "路人")
    _problem(client.get("/v1/me/programmes", headers=_h(stranger)), 404, "no_current_tier")
    assert client.get("/v1/me/programmes").status_code == 401


def test_a_providers_programme_from_draft_to_eligibility(client: TestClient, gw: Gateway) -> None:
    enrol_population(gw)
    bank = access_token(client, BANK)
    base = "/v1/programmes/mine"
    # Create: If-None-Match: * (428 without).
    _problem(
        client.post(f"{base}/{SAFE_BOX}/drafts", json={"document": _safe_box(), "reason": "new"}, headers=_h(bank)),
        428,
        "precondition_required",
    )
    created = client.post(
        f"{base}/{SAFE_BOX}/drafts",
        json={"document": _safe_box(), "reason": "new"},
        headers=_h(bank, **{"If-None-Match": "*"}),
    )
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "draft" and created.json()["version"] == 1
    etag = created.headers["ETag"]
    assert SAFE_BOX not in {p["id"] for p in client.get("/v1/programmes").json()["programmes"]}  # a draft is not public

    # Preview: the population by tier, and who the draft would serve (fair and better).
    preview = client.post(f"{base}/{SAFE_BOX}/impact", json={"version": 1}, headers=_h(bank))
    assert preview.status_code == 200, preview.text
    pv = preview.json()
    assert pv["scored_residents"] == 5
    counts = {row["tier"]: row["residents"] for row in pv["by_tier"]}
    assert counts == {"A": 0, "B": 1, "C": 2, "D": 1, "E": 1}
    crosswalk = gw.mappings.crosswalk_for(f"sx-integrity/{gw.model.version}")
    assert crosswalk is not None
    fair_or_better = {"outstanding", "good", "fair"}
    expected = sum(n for tier, n in counts.items() if crosswalk.common_level(tier, None) in fair_or_better)
    assert pv["qualifying"] == {"draft": expected, "live": 0}

    # Publish (stale ETag 412, missing 428), then it is public and decides eligibility.
    _problem(
        client.post(f"{base}/{SAFE_BOX}/publish", json={"version": 1, "reason": "go"}, headers=_h(bank)),
        428,
        "precondition_required",
    )
    _problem(
        client.post(
            f"{base}/{SAFE_BOX}/publish", json={"version": 1, "reason": "go"}, headers=_h(bank, **{"If-Match": '"r99"'})
        ),
        412,
        "precondition_failed",
    )
    published = client.post(
        f"{base}/{SAFE_BOX}/publish", json={"version": 1, "reason": "go"}, headers=_h(bank, **{"If-Match": etag})
    )
    assert published.status_code == 200, published.text
    listed = {p["id"]: p for p in client.get("/v1/programmes").json()["programmes"]}
    assert listed[SAFE_BOX]["grants"][0]["benefit"]["max_deposit_cny"] == 500
    decision = client.post(
        "/v1/eligibility",
        json={"assertion": city_assertion(WZ, BANK, "650-699", purpose="deposit_waiver"), "programme_id": SAFE_BOX},
        headers=_h(bank),
    )
    assert decision.status_code == 201, decision.text
    assert decision.json()["eligible"] is True and decision.json()["programme"]["version"] == 1

    # A second version raises the bar; the decision follows the version in force; rollback restores.
    etag = published.headers["ETag"]
    v2 = client.post(
        f"{base}/{SAFE_BOX}/drafts",
        json={"document": _safe_box("good", 800), "reason": "stricter"},
        headers=_h(bank, **{"If-Match": etag}),
    )
    assert v2.status_code == 201 and v2.json()["version"] == 2
    p2 = client.post(
        f"{base}/{SAFE_BOX}/publish",
        json={"version": 2, "reason": "go"},
        headers=_h(bank, **{"If-Match": v2.headers["ETag"]}),
    )
    assert p2.status_code == 200
    again = client.post(
        "/v1/eligibility",
        json={"assertion": city_assertion(WZ, BANK, "650-699", purpose="deposit_waiver"), "programme_id": SAFE_BOX},
        headers=_h(bank),
    ).json()
    assert again["eligible"] is False and again["programme"]["version"] == 2
    back = client.post(
        f"{base}/{SAFE_BOX}/rollback",
        json={"reason": "too strict"},
        headers=_h(bank, **{"If-Match": p2.headers["ETag"]}),
    )
    assert back.status_code == 200, back.text
    assert back.json()["published_version"] == 3
    assert [h["state"] for h in back.json()["history"]] == ["published", "retired", "retired"]
    assert gw.programmes.get(SAFE_BOX) is not None and gw.programmes.get(SAFE_BOX).grants[0].min_level == "fair"  # type: ignore[union-attr]

    with gw.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.target_ref == SAFE_BOX).order_by(audit_log.c.id)).all()
    assert [(r.actor_type, r.actor_id, r.action) for r in rows] == [
        ("partner", BANK, "programme.draft"),
        ("partner", BANK, "programme.publish"),
        ("partner", BANK, "programme.draft"),
        ("partner", BANK, "programme.publish"),
        ("partner", BANK, "programme.rollback"),
    ]
    assert rows[1].details["after"]["digest"].startswith("sha256:") and rows[1].details["reason"] == "go"


def test_another_partner_cannot_touch_it(client: TestClient, gw: Gateway) -> None:
    scenic = access_token(client, SCENIC)
    loan = "sx-example-bank-loan-rate-discount"
    base = "/v1/programmes/mine"
    _problem(client.get(f"{base}/{loan}", headers=_h(scenic)), 404, "document_not_found")
    _problem(client.get(f"{base}/no-such-programme", headers=_h(scenic)), 404, "document_not_found")
    doc = copy.deepcopy(gw.programmes.get(loan).document)  # type: ignore[union-attr]
    _problem(
        client.post(
            f"{base}/{loan}/drafts", json={"document": doc, "reason": "x"}, headers=_h(scenic, **{"If-Match": '"r1"'})
        ),
        422,
        "validation_failed",
    )
    doc["owner"] = SCENIC
    _problem(
        client.post(
            f"{base}/{loan}/drafts", json={"document": doc, "reason": "x"}, headers=_h(scenic, **{"If-Match": '"r1"'})
        ),
        404,
        "document_not_found",
    )
    _problem(
        client.post(
            f"{base}/{loan}/publish", json={"version": 1, "reason": "x"}, headers=_h(scenic, **{"If-Match": '"r1"'})
        ),
        404,
        "document_not_found",
    )
    _problem(
        client.post(f"{base}/{loan}/rollback", json={"reason": "x"}, headers=_h(scenic, **{"If-Match": '"r1"'})),
        404,
        "document_not_found",
    )
    _problem(client.post(f"{base}/{loan}/impact", json={"version": 1}, headers=_h(scenic)), 404, "document_not_found")
    assert loan not in {p["id"] for p in client.get(base, headers=_h(scenic)).json()}
    # A city platform owns no programmes at all; a partner_admin sees every programme.
    _problem(client.get(base, headers=_h(access_token(client, "hangzhou-credit"))), 403, "forbidden")
    admin = gw.admins.issue("pa-1", ["partner_admin"])
    assert loan in {p["id"] for p in client.get("/v1/admin/programmes", headers=_h(admin)).json()}


def test_purposes_outside_the_list_are_refused_with_a_stable_code(client: TestClient, gw: Gateway) -> None:
    bank = access_token(client, BANK)
    doc = {**_safe_box(), "purpose": "gambling"}
    _problem(
        client.post("/v1/programmes/mine/validate", json={"document": doc}, headers=_h(bank)), 422, "purpose_not_listed"
    )
    _problem(
        client.post(
            f"/v1/programmes/mine/{SAFE_BOX}/drafts",
            json={"document": doc, "reason": "x"},
            headers=_h(bank, **{"If-None-Match": "*"}),
        ),
        422,
        "purpose_not_listed",
    )
    assert (
        client.post("/v1/programmes/mine/validate", json={"document": _safe_box()}, headers=_h(bank)).json()["valid"]
        is True
    )
    # The server numbers versions: whatever the document says is replaced, never a 500.
    odd = {**_safe_box(), "version": "x"}
    assert client.post("/v1/programmes/mine/validate", json={"document": odd}, headers=_h(bank)).json()["valid"]


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("programme.schema.json", ("properties", "purpose", "enum")),
        ("partner.schema.json", ("properties", "allowed_purposes", "items", "enum")),
        ("score-assertion.schema.json", ("properties", "purpose", "enum")),
    ],
)
def test_the_schemas_close_the_same_purpose_list(schema: str, path: tuple[str, ...]) -> None:
    node: Any = json.loads((PROJECT_ROOT / "schemas" / schema).read_text(encoding="utf-8"))
    for key in path:
        node = node[key]
    assert node == list(PURPOSE_CODES)
    assert list(get_args(Purpose)) == list(PURPOSE_CODES)
    # The sectors of 三(三), and every code that was valid before stays valid.
    assert {"loan_discount", "deposit_waiver", "public_transport", "tourism", "rental", "medical_pay_later"} <= set(
        node
    )
    assert {"credit_line", "culture", "hotel_catering", "elderly_care"} <= set(node)
