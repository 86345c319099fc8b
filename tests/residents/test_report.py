"""The credit report (issue 9 §3; PIPL Art. 45): every record, every look-up with its answer, the
signed export, personal statements."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import insert

from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.store.tables import eligibility_decisions, recognitions
from tests.residents.helpers import OFFICER_WHY, enrol_without_authorisation, h, login
from tests.support import make_id, record
from tests.support.partners import access_token

BANK = "sx-example-bank"


def _scored_resident_with_history(client: TestClient, gw: Gateway, keys: dict[str, str], seq: int) -> tuple[str, str]:
    idn, name = make_id(seq=seq), "张三"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).raise_for_status()
    # A self-report stays pending: the report lists it with its status.
    pending = [record("volunteer_service", {"hours": 8}, ref=f"self-{seq}", id_number=idn, name=name)]
    client.post("/v1/ingest/records", json=pending, headers=h(keys["sx-self-report"])).raise_for_status()
    return idn, name


def test_report_lists_records_history_and_each_kind_of_lookup(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    idn, name = _scored_resident_with_history(client, gw, keys, 931)
    me = login(gw, idn, name)
    consent = {"audience": BANK, "purposes": ["loan_discount"], "valid_days": 30, "channel": "app"}
    client.post("/v1/me/consents", json=consent, headers=me).raise_for_status()
    issued = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount", "disclosure": "tier"},
        headers=h(access_token(client, BANK)),
    )
    assert issued.status_code == 201, issued.text
    jti = issued.json()["jti"]
    officer = client.post(
        "/v1/officer/score-lookups", json={"id_number": idn, **OFFICER_WHY}, headers=h(keys["officer"])
    )
    assert officer.status_code == 200
    # Another city recognised the assertion and a programme decided on it (rows as those services write them).
    with gw.engine.begin() as conn:
        conn.execute(
            insert(recognitions).values(
                caller="hangzhou-credit",
                assertion_issuer=gw.settings.issuer,
                assertion_jti=jti,
                partner_tier="C",
                common_level="fair",
                local_tier="C",
                crosswalks=[],
                at=utcnow(),
            )
        )
        conn.execute(
            insert(eligibility_decisions).values(
                jti="dec-1",
                caller="hangzhou-credit",
                programme_id="hz-metro-credit-ride",
                assertion_jti=jti,
                eligible=True,
                level="fair",
                at=utcnow(),
            )
        )

    # The bank's consent request, declined by the resident.
    bank = h(access_token(client, BANK))
    crq = client.post("/v1/consent-requests", json={"purpose": "deposit_waiver"}, headers=bank).json()["request_id"]
    client.post(f"/v1/me/consent-requests/{crq}/decline", json={}, headers=me).raise_for_status()

    resp = client.get("/v1/me/report", headers=me)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert idn not in resp.text and name not in resp.text
    assert report["authorisation"]["status"] == "granted"
    assert report["score"]["status"] == "scored"
    assert report["score"]["what_would_change_my_tier"]["tier"] == report["score"]["tier"]
    statuses = {r["item"]["code"]: r["status"] for r in report["records"]}
    assert statuses["volunteer_service"] == "pending" and statuses["residency"] == "valid"
    counting = {r["item"]["code"]: r for r in report["records"]}
    assert counting["provincial_evaluation"]["counts"] is True
    assert counting["provincial_evaluation"]["counts_in"][0]["indicator"] == "provincial_evaluation"
    assert counting["volunteer_service"]["counts"] is False
    assert "authorisation" in {e["trigger"] for e in report["score_history"]}
    assert any(e["event"] == "granted" for e in report["consent_events"])
    lookups = report["lookups"]
    assert lookups["officer_lookups"][0]["purpose"] == OFFICER_WHY["purpose"]
    assert lookups["officer_lookups"][0]["case_ref"] == OFFICER_WHY["case_reference"]
    assert lookups["officer_lookups"][0]["answer"]["tier"] == report["score"]["tier"]
    assert lookups["assertions_issued"][0]["jti"] == jti and lookups["assertions_issued"][0]["answer"]["tier"]
    assert lookups["recognitions"][0]["by"] == "hangzhou-credit"
    assert lookups["recognitions"][0]["answer"]["common_level"] == "fair"
    assert lookups["eligibility_decisions"][0]["answer"] == {"eligible": True, "level": "fair"}
    assert lookups["consent_requests"][0]["request"] == crq and lookups["consent_requests"][0]["answer"] == "declined"


def test_quarantined_records_show_as_such_in_the_own_report(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    idn, name = make_id(seq=932), "李四"
    enrol_without_authorisation(client, keys, idn, name)
    report = client.get("/v1/me/report", headers=login(gw, idn, name)).json()
    assert {r["status"] for r in report["records"]} == {"quarantined"}
    assert report["score"]["status"] == "none" and report["score"]["reason"] == "no_authorisation"
    stranger = client.get("/v1/me/report", headers=login(gw, make_id(seq=933), "王五"))
    assert stranger.status_code == 404 and stranger.json()["code"] == "person_unknown"


def test_export_verifies_with_the_jwks(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, name = _scored_resident_with_history(client, gw, keys, 934)
    resp = client.get("/v1/me/report", params={"format": "export"}, headers=login(gw, idn, name))
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith("attachment")
    body = resp.json()
    assert body["format"] == "credit-report+jwt"
    token = body["report"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "credit-report+jwt" and "jku" not in header and "x5u" not in header
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, key=key, algorithms=["ES256", "EdDSA"], audience="resident-credit-report", issuer=gw.settings.issuer
    )
    assert claims["report"]["score"]["status"] == "scored"
    assert idn not in token and claims["sub"] and len(claims["sub"]) > 20
    # A tampered report does not verify.
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload[:-4]}AAAA.{sig}"
    try:
        jwt.decode(forged, key=key, algorithms=["ES256"], audience="resident-credit-report")
    except jwt.InvalidTokenError:
        pass
    else:
        raise AssertionError("a tampered export verified")


def test_personal_statements(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, name = _scored_resident_with_history(client, gw, keys, 935)
    me = login(gw, idn, name)
    ref = next(r["ref"] for r in client.get("/v1/me/report", headers=me).json()["records"])
    resp = client.post("/v1/me/statements", json={"record": ref, "statement": "该记录系误报，已申请更正。"}, headers=me)
    assert resp.status_code == 201, resp.text
    too_long = client.post("/v1/me/statements", json={"record": ref, "statement": "字" * 501}, headers=me)
    assert too_long.status_code == 422
    # Another person's record gets the same answer as one that does not exist.
    other_idn, other_name = _scored_resident_with_history(client, gw, keys, 936)
    theirs = client.post(
        "/v1/me/statements", json={"record": ref, "statement": "x"}, headers=login(gw, other_idn, other_name)
    )
    missing = client.post("/v1/me/statements", json={"record": "r:999999", "statement": "x"}, headers=me)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "record_not_found"
    report = client.get("/v1/me/report", headers=me).json()
    assert report["personal_statements"][0]["statement"] == "该记录系误报，已申请更正。"
    officer = client.post(
        "/v1/officer/score-lookups", json={"id_number": idn, **OFFICER_WHY}, headers=h(keys["officer"])
    ).json()
    assert officer["personal_statements"][0]["record"] == ref
