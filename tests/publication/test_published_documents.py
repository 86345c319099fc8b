"""Public, signed, versioned documents: every one validates against its schema, its detached JWS
verifies with the published JWKS, it is listed in the issuer metadata with its digest, ETags give
304s, and a version stays fetchable by its digest after the document changed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.config import Settings
from gateway.services.admin import mapping_admin as ma
from gateway.services.context import Gateway
from tests.publication.support import digest_of, schema_errors, verify_detached

EXPECTED = {
    "tier-schemes/yrd-common",
    "tier-schemes/sx-integrity",
    "crosswalks/sx-integrity-yrd-common",
    "crosswalks/hangzhou-credit-yrd-common",
    "crosswalks/wenzhou-credit-yrd-common",
    "catalogue",
    "scoring-model",
    "programmes",
    "trust-list",
}


def _doc(client: TestClient, name: str, **params: str) -> tuple[bytes, dict[str, Any], str]:
    resp = client.get(f"/v1/published/{name}", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    return resp.content, json.loads(resp.content), resp.headers["ETag"]


def test_every_document_validates_is_signed_and_listed_with_its_digest(client: TestClient) -> None:
    metadata = client.get("/.well-known/score-issuer").json()
    listed = {d["name"]: d for d in metadata["published_documents"]}
    assert set(listed) == EXPECTED
    for name, entry in listed.items():
        body, doc, etag = _doc(client, name)
        assert digest_of(body) == entry["digest"] and etag == f'"{entry["digest"]}"'
        assert doc["name"] == name and doc["$schema"] == entry["schema"]
        assert schema_errors(doc, entry["schema"]) == [], name
        signature = client.get(f"/v1/published/{name}.jws")
        assert signature.status_code == 200 and signature.headers["content-type"].startswith("application/jose")
        verify_detached(client, body, signature.text)
        # The schema is served where its $id says.
        assert client.get(entry["schema"].removeprefix(doc["issuer"])).status_code == 200


def test_a_tampered_document_does_not_verify(client: TestClient) -> None:
    body, _, _ = _doc(client, "trust-list")
    token = client.get("/v1/published/trust-list.jws").text
    forged = body.replace(b"https://credit.hangzhou.example", b"https://credit.hangzhou.evil.example")
    assert forged != body
    with pytest.raises(Exception, match=r"[Ss]ignature"):
        verify_detached(client, forged, token)


def test_the_contents_say_what_they_should(client: TestClient, gw: Gateway) -> None:
    _, schemes, _ = _doc(client, "tier-schemes/yrd-common")
    assert schemes["content"]["scheme"] == "yrd-common/1"
    _, local, _ = _doc(client, "tier-schemes/sx-integrity")
    assert local["content"]["scheme"] == f"sx-integrity/{gw.model.version}"
    _, trust, _ = _doc(client, "trust-list")
    hz = next(e for e in trust["content"]["issuers"] if e["id"] == "hangzhou-credit")
    assert hz["issuer"] == "https://credit.hangzhou.example" and hz["jwks"]["keys"]
    assert {s["scheme"] for s in hz["schemes"]} == {"hangzhou-credit/1"}
    assert hz["schemes"][0]["crosswalk"]["id"] == "hangzhou-credit-yrd-common"
    assert all(
        e["id"] in {p.id for p in gw.partners.all() if p.kind == "city_platform"} for e in trust["content"]["issuers"]
    )
    _, model, _ = _doc(client, "scoring-model")
    assert model["content"]["weights_shown"] is False
    assert {f["code"] for f in model["content"]["families"]} == {"basic", "commitment", "other"}
    assert all("weight" not in i and "points" not in i for i in model["content"]["indicators"])
    assert [t["code"] for t in model["content"]["tiers"]] == ["A", "B", "C", "D", "E"]
    _, programmes, _ = _doc(client, "programmes")
    assert {p["id"] for p in programmes["content"]["programmes"]} == set(gw.programmes.by_id)


def test_weights_are_shown_when_the_office_says_so(gw: Gateway) -> None:
    gw.settings = replace(gw.settings, publish_model_weights=True)
    with TestClient(create_app(gw)) as c:
        _, doc, _ = _doc(c, "scoring-model")
    assert doc["content"]["weights_shown"] is True
    assert schema_errors(doc, doc["$schema"]) == []
    evaluation = next(i for i in doc["content"]["indicators"] if i["code"] == "provincial_evaluation")
    assert evaluation["scale"][-1] == [1000, 750]
    assert Settings.from_env({"GATEWAY_PUBLISH_MODEL_WEIGHTS": "true"}).publish_model_weights is True


def test_etag_round_trip_and_pinning_by_digest(client: TestClient, gw: Gateway) -> None:
    name = "crosswalks/sx-integrity-yrd-common"
    body, doc, etag = _doc(client, name)
    assert client.get(f"/v1/published/{name}", headers={"If-None-Match": etag}).status_code == 304
    assert client.get(f"/v1/published/{name}", headers={"If-None-Match": '"sha256:00"'}).status_code == 200
    assert "max-age" in client.get(f"/v1/published/{name}").headers["Cache-Control"]

    # The crosswalk changes: a new version of the document, chained to the one before.
    view = ma.show_crosswalk(gw, "sx-integrity-yrd-common")
    document = {**view["document"], "effective_from": "2026-02-01"}
    draft = ma.create_draft(gw, "admin", "sx-integrity-yrd-common", document, reason="test", if_match=view["etag"])
    ma.publish(gw, "admin", "sx-integrity-yrd-common", draft["version"], reason="test", if_match=draft["etag"])
    new_body, new_doc, new_etag = _doc(client, name)
    assert new_etag != etag and new_doc["version"] == doc["version"] + 1
    assert new_doc["previous_digest"] == digest_of(body)
    assert [h["version"] for h in new_doc["content"]["history"]] == [1, draft["version"]]
    assert client.get(f"/v1/published/{name}", headers={"If-None-Match": etag}).status_code == 200

    # A partner that pinned the first version still gets exactly those bytes, signed, for ever.
    pinned = client.get(f"/v1/published/{name}", params={"digest": digest_of(body)})
    assert pinned.status_code == 200 and pinned.content == body
    assert "immutable" in pinned.headers["Cache-Control"]
    verify_detached(client, body, client.get(f"/v1/published/{name}.jws", params={"digest": digest_of(body)}).text)
    versions = client.get(f"/v1/published/{name}/versions").json()["versions"]
    assert [v["digest"] for v in versions] == [digest_of(new_body), digest_of(body)]


def test_unknown_names_and_bad_digests_are_problems(client: TestClient) -> None:
    missing = client.get("/v1/published/no-such-document")
    assert missing.status_code == 404 and missing.json()["code"] == "published_document_not_found"
    assert client.get("/v1/published/programmes", params={"digest": "sha256:" + "0" * 64}).status_code == 404
    bad = client.get("/v1/published/programmes", params={"digest": "md5:abc"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    assert client.get("/v1/published/..%2F..%2Fetc").status_code == 404


def test_a_disabled_partner_leaves_the_trust_list(client: TestClient, gw: Gateway) -> None:
    from gateway.services.admin import partner_admin

    _, before, _ = _doc(client, "trust-list")
    assert "hangzhou-credit" in {e["id"] for e in before["content"]["issuers"]}
    etag = partner_admin.show_partner(gw, "hangzhou-credit")["etag"]
    partner_admin.set_enabled(gw, "admin", "hangzhou-credit", False, reason="agreement ended", if_match=etag)
    gw.partners.refresh_overrides()
    _, after, _ = _doc(client, "trust-list")
    assert "hangzhou-credit" not in {e["id"] for e in after["content"]["issuers"]}
    assert after["version"] == before["version"] + 1
    for issuer in after["content"]["issuers"]:  # public keys only, ever
        for key in (issuer["jwks"] or {}).get("keys", []):
            assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
