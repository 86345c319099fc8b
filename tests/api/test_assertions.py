"""Issuing score assertions: the round trip a partner sees, consent refusals, pairwise subjects,
key rotation, and no personal data in tokens or logs."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import select, update

from gateway.clock import utcnow
from gateway.exchange import jwk_thumbprint
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import consents, disclosures
from tests.support import basic_records, make_id
from tests.support.partners import access_token

BANK = "sx-example-bank"
CITY = "hangzhou-credit"
SCENIC = "sx-scenic-example"


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _enrol(client: TestClient, keys: dict[str, str], idn: str, name: str) -> None:
    for unit, batch in basic_records(idn, name, idn[-6:]).items():
        resp = client.post("/v1/ingest/records", json=batch, headers=_h(keys[unit]))
        assert resp.json()["accepted"] == 1, resp.text


def _consent(
    client: TestClient,
    gw: Gateway,
    idn: str,
    name: str,
    audience: str,
    purposes: list[str],
    disclosure: str = "tier",
) -> str:
    id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
    resp = client.post(
        "/v1/me/consents",
        json={
            "audience": audience,
            "purposes": purposes,
            "disclosure": disclosure,
            "valid_days": 30,
            "channel": "app",
        },
        headers=_h(id_token),
    )
    assert resp.status_code == 201, resp.text
    consent_id: str = resp.json()["id"]
    return consent_id


def _request(client: TestClient, token: str, idn: str, name: str, purpose: str, disclosure: str = "tier") -> Any:
    return client.post(
        "/v1/assertions",
        json={"subject": {"id_number": idn, "name": name}, "purpose": purpose, "disclosure": disclosure},
        headers=_h(token),
    )


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


@pytest.fixture
def person(client: TestClient, keys: dict[str, str]) -> tuple[str, str]:
    idn, name = make_id(seq=611), "陈小红"
    _enrol(client, keys, idn, name)
    return idn, name


def test_round_trip_verifies_with_only_the_published_jwks_and_schema(
    client: TestClient, gw: Gateway, person: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    idn, name = person
    consent_id = _consent(client, gw, idn, name, BANK, ["loan_discount"], "score")
    resp = _request(client, access_token(client, BANK), idn, name, "loan_discount", "score")
    assert resp.status_code == 201, resp.text
    token = resp.json()["assertion"]

    # What a bank does with public material only: the JWKS and the schema, plain PyJWT and jsonschema.
    jwks = client.get("/.well-known/jwks.json")
    assert "max-age" in jwks.headers["cache-control"]
    schema = client.get("/schemas/score-assertion.schema.json").json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "score-assertion+jwt" and header["alg"] == "ES256"
    assert set(header) == {"alg", "kid", "typ"}
    jwk = next(k for k in jwks.json()["keys"] if k["kid"] == header["kid"])
    assert jwk_thumbprint(jwk) == header["kid"]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=BANK, issuer=gw.settings.issuer)
    Draft202012Validator(schema).validate(claims)
    assert schema["$id"].endswith("/schemas/score-assertion.schema.json")

    assert claims["consent"] == consent_id and claims["purpose"] == "loan_discount"
    assert claims["score"]["max"] == 1000 and 0 <= claims["score"]["value"] <= 1000
    assert claims["regional_tier"]["scheme"] == "yrd-common/1"
    assert claims["regional_tier"]["crosswalk"] == {"id": "sx-integrity-yrd-common", "version": "1"}
    assert claims["exp"] - claims["iat"] <= 7 * 24 * 3600
    for text in (token, json.dumps(claims, ensure_ascii=False), caplog.text):
        assert idn not in text and name not in text and idn.lower() not in text

    # The disclosure log has the issuance, and the resident can read it.
    with gw.engine.connect() as conn:
        row = conn.execute(select(disclosures.c.jti, disclosures.c.audience, disclosures.c.disclosure)).one()
    assert tuple(row) == (claims["jti"], BANK, "score")
    id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
    listed = client.get("/v1/me/disclosures", headers=_h(id_token)).json()
    assert [d["jti"] for d in (listed if isinstance(listed, list) else listed["disclosures"])] == [claims["jti"]]


def test_tier_only_by_default(client: TestClient, gw: Gateway, person: tuple[str, str]) -> None:
    idn, name = person
    _consent(client, gw, idn, name, BANK, ["loan_discount"], "score")
    resp = _request(client, access_token(client, BANK), idn, name, "loan_discount")
    claims = _payload(resp.json()["assertion"])
    assert "score" not in claims and claims["tier"]["code"]


def _refusal(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 403, resp.text
    body = dict(resp.json())
    assert body["code"] == "disclosure_refused"
    body.pop("request_id")  # per request, whoever asks about whom (issue 13)
    return body


def test_every_consent_refusal_is_the_same_403(client: TestClient, gw: Gateway, person: tuple[str, str]) -> None:
    idn, name = person
    bank = access_token(client, BANK)
    refusals = {"missing": _refusal(_request(client, bank, idn, name, "loan_discount"))}

    # Another audience's consent does not cover the bank.
    _consent(client, gw, idn, name, SCENIC, ["tourism"])
    refusals["other_audience"] = _refusal(_request(client, bank, idn, name, "loan_discount"))
    # A consent for another purpose.
    _consent(client, gw, idn, name, BANK, ["deposit_waiver"])
    refusals["other_purpose"] = _refusal(_request(client, bank, idn, name, "loan_discount"))
    # A tier consent does not allow the number.
    _consent(client, gw, idn, name, BANK, ["loan_discount"], "tier")
    refusals["level_exceeded"] = _refusal(_request(client, bank, idn, name, "loan_discount", "score"))
    assert _request(client, bank, idn, name, "loan_discount").status_code == 201

    # Revoked.
    id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
    for c in client.get("/v1/me/consents", headers=_h(id_token)).json():
        if c["audience"] == BANK and "loan_discount" in c["purposes"]:
            client.delete(f"/v1/me/consents/{c['id']}", headers=_h(id_token))
    refusals["revoked"] = _refusal(_request(client, bank, idn, name, "loan_discount"))

    # Expired.
    _consent(client, gw, idn, name, BANK, ["loan_discount"])
    with gw.engine.begin() as conn:
        conn.execute(
            update(consents).where(consents.c.revoked_at.is_(None)).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refusals["expired"] = _refusal(_request(client, bank, idn, name, "loan_discount"))

    # Unknown person, and a name that does not match: the same answer.
    refusals["unknown_person"] = _refusal(_request(client, bank, make_id(seq=612), name, "loan_discount"))
    refusals["name_mismatch"] = _refusal(_request(client, bank, idn, "陈小绿", "loan_discount"))
    assert len({json.dumps(b, sort_keys=True) for b in refusals.values()}) == 1, refusals


def test_partner_policy_refusals_are_their_own_problems(client: TestClient, person: tuple[str, str]) -> None:
    idn, name = person
    scenic = access_token(client, SCENIC)
    assert _request(client, scenic, idn, name, "loan_discount").json()["code"] == "purpose_not_allowed"
    assert _request(client, scenic, idn, name, "tourism", "score").json()["code"] == "disclosure_level_not_allowed"
    unit = access_token(client, "sx-transport")
    assert _request(client, unit, idn, name, "tourism").status_code == 403


def test_pairwise_subject_is_stable_per_audience_and_differs_across(
    client: TestClient, gw: Gateway, person: tuple[str, str]
) -> None:
    idn, name = person
    _consent(client, gw, idn, name, BANK, ["loan_discount"])
    _consent(client, gw, idn, name, CITY, ["cross_city_recognition"])
    bank, city = access_token(client, BANK), access_token(client, CITY)
    first = _payload(_request(client, bank, idn, name, "loan_discount").json()["assertion"])
    second = _payload(_request(client, bank, idn, name, "loan_discount").json()["assertion"])
    other = _payload(_request(client, city, idn, name, "cross_city_recognition").json()["assertion"])
    assert first["sub"] == second["sub"]
    assert first["jti"] != second["jti"]
    assert other["sub"] != first["sub"]
    assert idn not in first["sub"] and len(first["sub"]) == 43


def test_key_rotation_keeps_old_assertions_verifiable(client: TestClient, gw: Gateway, person: tuple[str, str]) -> None:
    idn, name = person
    _consent(client, gw, idn, name, BANK, ["loan_discount"])
    bank = access_token(client, BANK)
    before = _request(client, bank, idn, name, "loan_discount").json()["assertion"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    jwks_before = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}

    active, nxt = gw.keyring.rotate()
    # The key that now signs was published before it signed anything.
    assert active.kid in jwks_before and active.kid != old_kid
    after = _request(client, bank, idn, name, "loan_discount").json()["assertion"]
    assert jwt.get_unverified_header(after)["kid"] == active.kid
    published = {k["kid"]: k for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert old_kid in published and nxt is not None and nxt.kid in published
    for token in (before, after):
        kid = jwt.get_unverified_header(token)["kid"]
        key = jwt.PyJWK(published[kid]).key
        jwt.decode(token, key, algorithms=["ES256"], audience=BANK, issuer=gw.settings.issuer)
    retired = next(r for r in gw.keyring.rows() if r.kid == old_kid)
    assert retired.state == "retired" and retired.publish_until is not None
