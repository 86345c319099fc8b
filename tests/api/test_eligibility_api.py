"""POST /v1/eligibility: signed decisions a bank can keep as proof, at both sides of the example
programmes' thresholds, verified with nothing but the published JWKS; and every refusal."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.exchange import Status
from gateway.services.context import Gateway
from gateway.services.recognition.partner_keys import PartnerKeys
from gateway.store.tables import eligibility_decisions
from tests.support.assertions import FakePartner, city_assertion, no_sleep, status_list_token
from tests.support.partners import access_token

BANK = "sx-example-bank"
SCENIC = "sx-scenic-example"
HZ = "hangzhou-credit"
WZ = "wenzhou-credit"
LOAN = "sx-example-bank-loan-rate-discount"
DEPOSIT = "sx-example-bank-deposit-waiver"
TICKETS = "sx-scenic-example-tickets"
MEDICAL = "sx-example-bank-medical-pay-later"


def _decide(client: TestClient, caller: str, assertion: str, programme_id: str) -> httpx.Response:
    resp: httpx.Response = client.post(
        "/v1/eligibility",
        json={"assertion": assertion, "programme_id": programme_id},
        headers={"Authorization": f"Bearer {access_token(client, caller)}"},
    )
    return resp


def _verified(client: TestClient, gw: Gateway, token: str, audience: str) -> dict[str, Any]:
    """What the bank does later with the kept JWS: the published keys and PyJWT only."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "eligibility-decision+jwt" and set(header) == {"alg", "kid", "typ"}
    jwks = client.get("/.well-known/jwks.json").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256", "EdDSA"],
        audience=audience,
        issuer=gw.settings.issuer,
        options={"require": ["exp", "iat", "nbf", "jti", "sub"], "strict_aud": True},
    )
    return claims


def _problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    return body


@pytest.mark.parametrize(
    ("city", "caller", "programme", "tier", "purpose", "expected"),
    [
        (HZ, BANK, LOAN, "600-700", "loan_discount", None),
        (HZ, BANK, LOAN, "700-750", "loan_discount", 10),
        (HZ, BANK, LOAN, "750plus", "loan_discount", 15),
        (WZ, BANK, LOAN, "700-749", "loan_discount", 10),
        (WZ, BANK, DEPOSIT, "650-699", "deposit_waiver", None),
        (WZ, BANK, DEPOSIT, "700-749", "deposit_waiver", 2000),
        (WZ, SCENIC, TICKETS, "650-699", "tourism", None),
        (WZ, SCENIC, TICKETS, "700-749", "tourism", "half"),
        (WZ, SCENIC, TICKETS, "750plus", "tourism", "free"),
        (HZ, SCENIC, TICKETS, "700-750", "tourism", "half"),
    ],
)
def test_signed_decisions_at_both_sides_of_the_thresholds(
    client: TestClient, gw: Gateway, city: str, caller: str, programme: str, tier: str, purpose: str, expected: Any
) -> None:
    assertion = city_assertion(city, caller, tier, purpose=purpose)
    resp = _decide(client, caller, assertion, programme)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    claims = _verified(client, gw, body["decision"], caller)
    assert claims["jti"] == body["jti"] and claims["aud"] == caller
    assert claims["eligible"] is body["eligible"] is (expected is not None)
    benefit = claims["benefit"]
    got = None if benefit is None else benefit.get("basis_points", benefit.get("price", benefit.get("max_deposit_cny")))
    assert got == expected
    assert claims["programme"]["id"] == programme and claims["programme"]["example"] is True
    assert claims["level"]["basis"] == "common_level" and claims["level"]["scheme"] == "yrd-common/1"
    assert claims["reasons"][0]["code"] == ("threshold_met" if expected is not None else "below_threshold")
    assert claims["assertion"]["jti"] == body["assertion_jti"] and claims["exp"] <= claims["assertion"]["exp"]
    assert [c["id"] for c in claims["crosswalks"]] == [f"{city}-yrd-common"]
    with gw.engine.connect() as conn:
        row = conn.execute(select(eligibility_decisions)).one()
    assert (row.jti, row.caller, row.programme_id, row.eligible, row.level) == (
        body["jti"],
        caller,
        programme,
        expected is not None,
        claims["level"]["code"],
    )


def test_the_decision_never_carries_a_score_even_when_the_assertion_disclosed_it(
    client: TestClient, gw: Gateway
) -> None:
    resp = _decide(client, BANK, city_assertion(HZ, BANK, "750plus", score=806), LOAN)
    claims = _verified(client, gw, resp.json()["decision"], BANK)
    assert "score" not in claims and "806" not in json.dumps(claims)
    assert "806" not in json.dumps({k: v for k, v in resp.json().items() if k != "decision"})


def test_the_decision_is_proof_for_the_caller_only(client: TestClient, gw: Gateway) -> None:
    token = _decide(client, BANK, city_assertion(WZ, BANK, "750plus"), LOAN).json()["decision"]
    with pytest.raises(jwt.InvalidAudienceError):
        _verified(client, gw, token, SCENIC)


def test_an_unrated_platform_gets_a_signed_no(client: TestClient, gw: Gateway) -> None:
    body = _decide(client, BANK, city_assertion("huzhou-credit", BANK, "unrated"), LOAN).json()
    claims = _verified(client, gw, body["decision"], BANK)
    assert claims["eligible"] is False and claims["reasons"][0]["code"] == "level_unrated"
    assert claims["common_level"]["level"] == "unrated" and claims["crosswalks"] == []


def test_refusals(client: TestClient) -> None:
    loan = city_assertion(WZ, BANK, "750plus")
    _problem(_decide(client, BANK, loan, "no-such-programme"), 404, "programme_not_found")
    _problem(
        _decide(client, SCENIC, city_assertion(WZ, SCENIC, "750plus", purpose="tourism"), LOAN),
        403,
        "programme_not_offered",
    )
    _problem(_decide(client, WZ, city_assertion(HZ, WZ, "750plus"), LOAN), 403, "not_a_deciding_partner")
    _problem(_decide(client, BANK, loan, DEPOSIT), 403, "purpose_mismatch")
    _problem(_decide(client, BANK, city_assertion(WZ, SCENIC, "750plus"), LOAN), 403, "assertion_not_for_caller")
    _problem(_decide(client, BANK, "not.a.jws", LOAN), 401, "token_malformed")
    # A purpose outside the bank's registry entry.
    tourism = city_assertion(HZ, BANK, "700-750", purpose="tourism")
    _problem(_decide(client, BANK, tourism, LOAN), 403, "purpose_not_allowed")


def test_medical_pay_later_credit_line(client: TestClient) -> None:
    medical = city_assertion(HZ, BANK, "700-750", purpose="medical_pay_later")
    resp = _decide(client, BANK, medical, MEDICAL)
    assert resp.status_code == 201, resp.text
    assert resp.json()["eligible"] is True and resp.json()["benefit"]["credit_line_cny"] == 1000


def test_a_revoked_assertion_gets_no_decision(client: TestClient, gw: Gateway) -> None:
    uri = "https://credit.wenzhou.example/status/7"
    web = FakePartner()
    web.serve_token(uri, status_list_token(WZ, uri, {5: Status.INVALID, 6: Status.SUPERSEDED}))
    gw.partner_keys = PartnerKeys(transport=web.transport(), sleep=no_sleep)
    _problem(
        _decide(client, BANK, city_assertion(WZ, BANK, "750plus", status=(uri, 5)), LOAN), 403, "assertion_revoked"
    )
    _problem(
        _decide(client, BANK, city_assertion(WZ, BANK, "750plus", status=(uri, 6)), LOAN), 403, "assertion_superseded"
    )
    assert _decide(client, BANK, city_assertion(WZ, BANK, "750plus", status=(uri, 4)), LOAN).status_code == 201
    with gw.engine.connect() as conn:
        assert len(conn.execute(select(eligibility_decisions.c.jti)).all()) == 1
