"""/v1/admin over HTTP: roles, ETag / If-Match, crosswalk changes, partner changes taking effect
on the token endpoint, and the audit log with filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.config import DEFAULT_ISSUER, PROJECT_ROOT
from gateway.exchange import generate_signing_key, make_client_assertion
from gateway.services.context import Gateway
from tests.api.conftest import auth
from tests.support.partners import access_token, client_assertion, token_form

SX = "sx-integrity-yrd-common"
BANK = "sx-example-bank"
SX_FILE = json.loads((PROJECT_ROOT / "mappings" / "crosswalks" / f"{SX}.json").read_text(encoding="utf-8"))
VECTORS = Path(__file__).parents[1] / "vectors" / "equipercentile"


@pytest.fixture
def tokens(gw: Gateway, keys: dict[str, str]) -> dict[str, str]:
    roles = ["mapping_admin", "partner_admin", "auditor", "credit_officer"]
    out = {role: gw.admins.issue(f"{role}-1", [role]) for role in roles}
    out["mapping_admin-2"] = gw.admins.issue("mapping_admin-2", ["mapping_admin"])
    out["officer_key"] = keys["officer"]
    return out


def _h(token: str, etag: str | None = None) -> dict[str, str]:
    return {**auth(token), **({"If-Match": etag} if etag is not None else {})}


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    return body


READS = [
    ("GET", "/v1/admin/crosswalks", {"mapping_admin", "auditor"}),
    ("GET", f"/v1/admin/crosswalks/{SX}", {"mapping_admin", "auditor"}),
    ("GET", f"/v1/admin/crosswalks/{SX}/versions/1", {"mapping_admin", "auditor"}),
    ("GET", "/v1/admin/partners", {"partner_admin", "auditor"}),
    ("GET", f"/v1/admin/partners/{BANK}", {"partner_admin", "auditor"}),
    ("GET", "/v1/admin/audit", {"auditor"}),
]
CHANGES = [
    ("POST", f"/v1/admin/crosswalks/{SX}/drafts", {"document": SX_FILE, "reason": "r"}, "mapping_admin"),
    ("POST", f"/v1/admin/crosswalks/{SX}/publish", {"version": 1, "reason": "r"}, "mapping_admin"),
    ("POST", f"/v1/admin/crosswalks/{SX}/rollback", {"reason": "r"}, "mapping_admin"),
    ("POST", "/v1/admin/crosswalks/validate", {"document": SX_FILE}, "mapping_admin"),
    ("POST", f"/v1/admin/partners/{BANK}/disable", {"reason": "r"}, "partner_admin"),
    ("POST", f"/v1/admin/partners/{BANK}/enable", {"reason": "r"}, "partner_admin"),
    ("PUT", f"/v1/admin/partners/{BANK}/jwks", {"jwks": {"keys": []}, "reason": "r"}, "partner_admin"),
    ("PUT", f"/v1/admin/partners/{BANK}/purposes", {"allowed_purposes": [], "reason": "r"}, "partner_admin"),
]
ROLES = ["mapping_admin", "partner_admin", "auditor", "credit_officer", "officer_key"]


def test_reads_are_for_their_role_and_auditors(client: TestClient, tokens: dict[str, str]) -> None:
    for method, path, allowed in READS:
        assert client.request(method, path).status_code == 401
        for role in ROLES:
            resp = client.request(method, path, headers=auth(tokens[role]))
            if role in allowed:
                assert resp.status_code == 200, (path, role, resp.text)
            else:
                _problem(resp, 403, "forbidden")


def test_changes_are_for_their_role_only(client: TestClient, tokens: dict[str, str]) -> None:
    for method, path, body, allowed in CHANGES:
        unauthenticated = client.request(method, path, json=body)
        assert unauthenticated.status_code == 401 and "WWW-Authenticate" in unauthenticated.headers
        for role in ROLES:
            resp = client.request(method, path, json=body, headers=auth(tokens[role]))
            if role == allowed:
                assert resp.status_code != 403, (path, role)
            else:
                _problem(resp, 403, "forbidden")


def test_a_crosswalk_change_goes_through_etags(client: TestClient, tokens: dict[str, str], gw: Gateway) -> None:
    alice, bob = tokens["mapping_admin"], tokens["mapping_admin-2"]
    shown = client.get(f"/v1/admin/crosswalks/{SX}", headers=auth(alice))
    etag = shown.headers["ETag"]
    assert etag == shown.json()["etag"] == '"r1"' and shown.json()["document"] == SX_FILE
    draft = {"document": {**SX_FILE, "basis": "Reviewed by the credit office."}, "reason": "review"}
    body = _problem(
        client.post(f"/v1/admin/crosswalks/{SX}/drafts", json=draft, headers=auth(alice)), 428, "precondition_required"
    )
    assert body["current_etag"] == etag
    made = client.post(f"/v1/admin/crosswalks/{SX}/drafts", json=draft, headers=_h(alice, etag))
    assert made.status_code == 201 and made.json()["version"] == 2 and made.headers["ETag"] == '"r2"'
    # Bob prepared his change on the ETag he read before Alice's draft.
    late = client.post(f"/v1/admin/crosswalks/{SX}/publish", json={"version": 2, "reason": "go"}, headers=_h(bob, etag))
    body = _problem(late, 412, "precondition_failed")
    assert body["current_etag"] == '"r2"' and body["published_version"] == 1
    ok = client.post(f"/v1/admin/crosswalks/{SX}/publish", json={"version": 2, "reason": "go"}, headers=_h(bob, '"r2"'))
    assert ok.status_code == 200 and ok.json()["published_version"] == 2 and ok.headers["ETag"] == '"r3"'
    assert gw.mappings.crosswalk_for("sx-integrity/2026.1").version == 2  # type: ignore[union-attr]
    back = client.post(f"/v1/admin/crosswalks/{SX}/rollback", json={"reason": "undo"}, headers=_h(alice, '"r3"'))
    assert back.status_code == 200 and back.json()["published_version"] == 3
    version = client.get(f"/v1/admin/crosswalks/{SX}/versions/3", headers=auth(tokens["auditor"])).json()
    assert version["document"]["basis"] == SX_FILE["basis"] and version["state"] == "published"
    _problem(client.get(f"/v1/admin/crosswalks/{SX}/versions/9", headers=auth(alice)), 404, "crosswalk_not_found")


def test_an_invalid_draft_is_a_422_naming_the_rule(client: TestClient, tokens: dict[str, str]) -> None:
    gap = [
        {"min_score": 0, "max_score": 549, "common": "low"},
        {"min_score": 560, "max_score": 1000, "common": "good"},
    ]
    draft = {"document": {**SX_FILE, "to_common": gap}, "reason": "bands"}
    resp = client.post(f"/v1/admin/crosswalks/{SX}/drafts", json=draft, headers=_h(tokens["mapping_admin"], '"r1"'))
    assert "gap between 549 and 560" in _problem(resp, 422, "invalid_mapping")["detail"]
    resp = client.post(
        "/v1/admin/crosswalks/validate", json={"document": draft["document"]}, headers=auth(tokens["mapping_admin"])
    )
    _problem(resp, 422, "invalid_mapping")
    good = client.post(
        "/v1/admin/crosswalks/validate", json={"document": SX_FILE}, headers=auth(tokens["mapping_admin"])
    )
    assert good.status_code == 200 and good.json()["valid"] is True


def test_impact_and_proposals(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["mapping_admin"])
    resp = client.post(f"/v1/admin/crosswalks/{SX}/impact", json={"document": SX_FILE}, headers=h)
    assert resp.status_code == 200 and resp.json()["changed"] == 0 and resp.json()["current"]["version"] == 1
    _problem(client.post(f"/v1/admin/crosswalks/{SX}/impact", json={}, headers=h), 422, "validation_failed")
    vector = json.loads((VECTORS / "uniform.json").read_text(encoding="utf-8"))
    body = {"local": vector["local"], "common": vector["reference"], "effective_from": "2026-03-01"}
    proposal = client.post("/v1/admin/crosswalks/proposals", json=body, headers=h)
    assert proposal.status_code == 200 and proposal.json()["valid"] is True
    assert [lvl["band"]["min_score"] for lvl in proposal.json()["levels"]] == [950, 750, 400, 100, 0]
    bad = client.post("/v1/admin/crosswalks/proposals", json={**body, "local": {"histogram": []}}, headers=h)
    _problem(bad, 422, "invalid_distribution")


def test_disabling_a_partner_stops_its_tokens(client: TestClient, tokens: dict[str, str]) -> None:
    admin = tokens["partner_admin"]
    bank_token = access_token(client, BANK)
    shown = client.get(f"/v1/admin/partners/{BANK}", headers=auth(admin))
    assert shown.headers["ETag"] == '"r0"' and shown.json()["enabled"] is True
    resp = client.post(
        f"/v1/admin/partners/{BANK}/disable", json={"reason": "audit finding"}, headers=_h(admin, '"r0"')
    )
    assert resp.status_code == 200 and resp.json()["enabled"] is False and resp.headers["ETag"] == '"r1"'
    refused = client.post("/oauth/token", data=token_form(client_assertion(BANK)))
    assert refused.status_code == 401 and refused.json()["code"] == "unknown_client"
    used = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": "11010519491231002X", "name": "张三"}, "purpose": "loan_discount"},
        headers=auth(bank_token),
    )
    assert used.status_code == 401
    stale = client.post(f"/v1/admin/partners/{BANK}/enable", json={"reason": "x"}, headers=_h(admin, '"r0"'))
    assert _problem(stale, 412, "precondition_failed")["enabled"] is False
    client.post(f"/v1/admin/partners/{BANK}/enable", json={"reason": "fixed"}, headers=_h(admin, '"r1"'))
    assert client.post("/oauth/token", data=token_form(client_assertion(BANK))).status_code == 200


def test_a_purpose_taken_away_stops_at_once_for_live_tokens(client: TestClient, tokens: dict[str, str]) -> None:
    admin = tokens["partner_admin"]
    bank_token = access_token(client, BANK)
    shown = client.get(f"/v1/admin/partners/{BANK}", headers=auth(admin)).json()
    assert "loan_discount" in shown["allowed_purposes"] == shown["allowed_purposes_in_file"]
    unknown = client.put(
        f"/v1/admin/partners/{BANK}/purposes",
        json={"allowed_purposes": ["loan_discount", "gambling"], "reason": "r"},
        headers=_h(admin, '"r0"'),
    )
    assert _problem(unknown, 422, "purposes_rejected")["purposes"] == ["gambling"]
    unit = client.put(
        "/v1/admin/partners/sx-intermediate-court/purposes",
        json={"allowed_purposes": ["tourism"], "reason": "r"},
        headers=_h(admin, '"r0"'),
    )
    _problem(unit, 422, "purposes_rejected")
    kept = [p for p in shown["allowed_purposes"] if p != "loan_discount"]
    resp = client.put(
        f"/v1/admin/partners/{BANK}/purposes",
        json={"allowed_purposes": kept, "reason": "no more loan discounts"},
        headers=_h(admin, '"r0"'),
    )
    assert resp.status_code == 200 and resp.json()["allowed_purposes"] == sorted(kept)
    assert resp.json()["override"]["allowed_purposes"] is True
    used = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": "11010519491231002X", "name": "张三"}, "purpose": "loan_discount"},
        headers=auth(bank_token),
    )
    assert used.status_code == 403, used.text
    entry = client.get("/v1/admin/audit", params={"action": "partner.set_purposes"}, headers=auth(tokens["auditor"]))
    [row] = entry.json()["items"]
    assert "loan_discount" in row["details"]["before"]["allowed_purposes"]
    assert "loan_discount" not in row["details"]["after"]["allowed_purposes"]


def test_rotating_a_partners_keys(client: TestClient, tokens: dict[str, str]) -> None:
    admin = tokens["partner_admin"]
    new = generate_signing_key("ES256")
    leaked = {
        "keys": [{**new.public_jwk(), "d": "AAAA"}],
    }
    resp = client.put(
        f"/v1/admin/partners/{BANK}/jwks", json={"jwks": leaked, "reason": "r"}, headers=_h(admin, '"r0"')
    )
    assert _problem(resp, 422, "jwks_rejected")["reason"] == "private_key_material"
    body = {"jwks": {"keys": [new.public_jwk()]}, "reason": "yearly rotation"}
    resp = client.put(f"/v1/admin/partners/{BANK}/jwks", json=body, headers=_h(admin, '"r0"'))
    assert resp.status_code == 200 and [k["kid"] for k in resp.json()["keys"]] == [new.kid]
    fresh = make_client_assertion(new, client_id=BANK, audience=DEFAULT_ISSUER)
    assert client.post("/oauth/token", data=token_form(fresh)).status_code == 200
    assert client.post("/oauth/token", data=token_form(client_assertion(BANK))).status_code == 401


def test_the_audit_log_with_filters(client: TestClient, tokens: dict[str, str]) -> None:
    admin, auditor = tokens["partner_admin"], tokens["auditor"]
    etag = '"r0"'
    for i in range(3):
        action = "disable" if i % 2 == 0 else "enable"
        resp = client.post(f"/v1/admin/partners/{BANK}/{action}", json={"reason": f"step {i}"}, headers=_h(admin, etag))
        etag = resp.headers["ETag"]
    page = client.get("/v1/admin/audit", params={"target_type": "partner", "limit": 2}, headers=auth(auditor)).json()
    assert [item["details"]["reason"] for item in page["items"]] == ["step 2", "step 1"]
    assert page["items"][0]["actor_id"] == "partner_admin-1" and page["next_before_id"] is not None
    rest = client.get(
        "/v1/admin/audit", params={"target_type": "partner", "before_id": page["next_before_id"]}, headers=auth(auditor)
    ).json()
    assert [item["details"]["reason"] for item in rest["items"]] == ["step 0"] and rest["next_before_id"] is None
    only = client.get("/v1/admin/audit", params={"action": "partner.enable"}, headers=auth(auditor)).json()
    assert [item["details"]["reason"] for item in only["items"]] == ["step 1"]
    at = page["items"][0]["at"]
    since = client.get("/v1/admin/audit", params={"since": at, "target_ref": BANK}, headers=auth(auditor)).json()
    until = client.get("/v1/admin/audit", params={"until": at, "target_ref": BANK}, headers=auth(auditor)).json()
    assert [i["details"]["reason"] for i in since["items"]] == ["step 2"]
    assert [i["details"]["reason"] for i in until["items"]] == ["step 1", "step 0"]
    naive = client.get("/v1/admin/audit", params={"since": "2026-01-01T00:00:00"}, headers=auth(auditor))
    _problem(naive, 422, "validation_failed")
