"""POST /v1/recognitions against partner cities served over HTTP (httpx.MockTransport).

In this module Hangzhou publishes its keys at a ``jwks_uri`` (a fake web server, so rotation,
floods, outages and garbage can be staged) and Wenzhou keeps its inline JWKS; Quzhou is disabled
and the scenic operator claims an issuer, to exercise the trust rules."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.config import PROJECT_ROOT, Settings
from gateway.exchange import TYP_SCORE_ASSERTION, Status, generate_signing_key, sign
from gateway.exchange._b64 import b64url_decode
from gateway.services.context import Gateway
from gateway.services.exchange.status_lists import StatusListService
from gateway.services.recognition.partner_keys import PartnerKeys
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import recognitions
from tests.support import basic_records, make_id
from tests.support.assertions import (
    HANGZHOU_JWKS_URI,
    Clock,
    FakePartner,
    city_assertion,
    city_claims,
    no_sleep,
    status_list_token,
)
from tests.support.jose import forge, hmac_signed, unsigned
from tests.support.partners import access_token, partner_key

BANK = "sx-example-bank"
SCENIC = "sx-scenic-example"
HZ = "hangzhou-credit"
WZ = "wenzhou-credit"
WZ_LIST = "https://credit.wenzhou.example/status/1"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    partners = tmp_path / "partners"
    shutil.copytree(PROJECT_ROOT / "partners", partners)

    def edit(partner_id: str, **changes: Any) -> None:
        path = partners / f"{partner_id}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for name, value in changes.items():
            if value is None:
                doc.pop(name)
            else:
                doc[name] = value
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    edit(HZ, jwks=None, jwks_uri=HANGZHOU_JWKS_URI)
    edit("quzhou-credit", enabled=False)
    edit(SCENIC, issuer="https://scenic.example")
    return replace(settings, partners_dir=partners)


@pytest.fixture
def web() -> FakePartner:
    partner = FakePartner()
    partner.serve_jwks(HANGZHOU_JWKS_URI, partner_key(HZ))
    return partner


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fetcher(gw: Gateway, web: FakePartner, clock: Clock) -> Iterator[PartnerKeys]:
    gw.partner_keys = PartnerKeys(transport=web.transport(), now=clock, sleep=no_sleep)
    yield gw.partner_keys


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _recognise(client: TestClient, caller: str, assertion: str, **body: Any) -> httpx.Response:
    resp: httpx.Response = client.post(
        "/v1/recognitions", json={"assertion": assertion, **body}, headers=_h(access_token(client, caller))
    )
    return resp


def _problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["type"].endswith(f"/problems/{code}")
    assert resp.headers["content-type"].startswith("application/problem+json")
    return body


def test_a_hangzhou_assertion_is_recognised_in_shaoxing_over_its_jwks_uri(
    client: TestClient, gw: Gateway, web: FakePartner, fetcher: PartnerKeys
) -> None:
    assertion = city_assertion(HZ, BANK, "700-750", score=733)
    resp = _recognise(client, BANK, assertion)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["issuer"] == "https://credit.hangzhou.example" and body["issuer_partner"] == HZ
    assert body["partner_tier"]["scheme"] == "hangzhou-credit/1" and body["partner_tier"]["code"] == "700-750"
    assert body["common_level"] == {"scheme": "yrd-common/1", "level": "good"}
    assert body["local_equivalent"] == {
        "scheme": "sx-integrity/2026.1",
        "code": "B",
        "label": {"zh": "诚信良好", "en": "Good"},
    }
    assert [c["id"] for c in body["crosswalks"]] == ["hangzhou-credit-yrd-common", "sx-integrity-yrd-common"]
    assert body["provisional"] is True and body["placement"] == "translated"
    assert [(p["id"], p["benefit"]["basis_points"]) for p in body["programmes"]] == [
        ("sx-example-bank-loan-rate-discount", 10)
    ]
    # The disclosed score is never echoed.
    assert "score" not in json.dumps(body).replace("score-gateway", "")
    assert web.hits == {HANGZHOU_JWKS_URI: 1}
    with gw.engine.connect() as conn:
        row = conn.execute(select(recognitions)).one()
    assert (row.caller, row.assertion_issuer, row.partner_tier, row.common_level, row.local_tier) == (
        BANK,
        "https://credit.hangzhou.example",
        "700-750",
        "good",
        "B",
    )
    assert row.assertion_jti == body["jti"] and [c["id"] for c in row.crosswalks] == [
        c["id"] for c in body["crosswalks"]
    ]


def test_a_wenzhou_assertion_with_inline_keys_is_recognised_with_the_callers_programmes(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys
) -> None:
    resp = _recognise(client, SCENIC, city_assertion(WZ, SCENIC, "750plus", purpose="tourism"), purpose="tourism")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["common_level"]["level"] == "outstanding" and body["local_equivalent"]["code"] == "A"
    assert [(p["id"], p["benefit"]["price"]) for p in body["programmes"]] == [("sx-scenic-example-tickets", "free")]
    below = _recognise(client, SCENIC, city_assertion(WZ, SCENIC, "650-699", purpose="tourism")).json()
    assert below["common_level"]["level"] == "fair" and below["programmes"] == []
    assert web.hits == {}  # inline keys: nothing fetched


def test_a_platform_without_published_tiers_is_recognised_as_unrated(client: TestClient, fetcher: PartnerKeys) -> None:
    resp = _recognise(client, BANK, city_assertion("huzhou-credit", BANK, "unrated"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["common_level"]["level"] == "unrated" and body["local_equivalent"] is None
    assert body["placement"] == "no_crosswalk" and body["programmes"] == [] and body["crosswalks"] == []


def test_our_own_assertion_is_recognised_back_onto_our_own_tier(
    client: TestClient, gw: Gateway, keys: dict[str, str], fetcher: PartnerKeys
) -> None:
    idn, name = make_id(seq=733), "冯一"
    for unit, batch in basic_records(idn, name, "own").items():
        assert client.post("/v1/ingest/records", json=batch, headers=_h(keys[unit])).json()["accepted"] == 1
    id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
    consent = {"audience": BANK, "purposes": ["loan_discount"], "valid_days": 7, "channel": "app"}
    created = client.post("/v1/me/consents", json=consent, headers=_h(id_token))
    created.raise_for_status()
    bank = access_token(client, BANK)
    issued = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount"},
        headers=_h(bank),
    )
    assert issued.status_code == 201, issued.text
    resp = client.post("/v1/recognitions", json={"assertion": issued.json()["assertion"]}, headers=_h(bank))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["issuer"] == gw.settings.issuer and body["issuer_partner"] is None
    assert body["local_equivalent"]["code"] == body["partner_tier"]["code"]
    assert [c["id"] for c in body["crosswalks"]] == ["sx-integrity-yrd-common"]
    # Addressed to the bank, so nobody else may use it.
    _problem(
        client.post(
            "/v1/recognitions", json={"assertion": issued.json()["assertion"]}, headers=_h(access_token(client, WZ))
        ),
        403,
        "assertion_not_for_caller",
    )
    # The resident withdraws consent: the assertion is revoked in our own status list, which this
    # gateway reads from its own service (a fresh one here, as in a process with a cold cache).
    client.delete(f"/v1/me/consents/{created.json()['id']}", headers=_h(id_token)).raise_for_status()
    gw.status_lists = StatusListService(gw.settings, gw.engine, gw.keyring)
    resp = client.post("/v1/recognitions", json={"assertion": issued.json()["assertion"]}, headers=_h(bank))
    _problem(resp, 403, "assertion_revoked")


# --- keys at the partner's jwks_uri -------------------------------------------------------------


def test_key_rotation_at_the_partner_costs_one_refetch(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys, clock: Clock
) -> None:
    assert _recognise(client, BANK, city_assertion(HZ, BANK, "600-700")).status_code == 200
    rotated = generate_signing_key()
    web.serve_jwks(HANGZHOU_JWKS_URI, rotated)  # the old key is retired at once
    clock.advance(31)  # past the cool-down, well within the cache's ttl
    resp = _recognise(client, BANK, city_assertion(HZ, BANK, "600-700", key=rotated))
    assert resp.status_code == 200, resp.text
    assert web.hits[HANGZHOU_JWKS_URI] == 2
    assert _recognise(client, BANK, city_assertion(HZ, BANK, "600-700", key=rotated)).status_code == 200
    assert web.hits[HANGZHOU_JWKS_URI] == 2


def test_a_flood_of_unknown_kids_fetches_at_most_once_per_cool_down(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys, clock: Clock
) -> None:
    token = access_token(client, BANK)
    for i in range(20):
        if i == 10:
            clock.advance(31)
        forged = city_assertion(HZ, BANK, "600-700", key=generate_signing_key())
        resp = client.post("/v1/recognitions", json={"assertion": forged}, headers=_h(token))
        _problem(resp, 401, "unknown_key")
    assert web.hits[HANGZHOU_JWKS_URI] == 2  # the first fetch, and one refresh after the cool-down


def test_cached_keys_still_verify_while_the_partner_is_down(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys, clock: Clock
) -> None:
    assert _recognise(client, BANK, city_assertion(HZ, BANK, "600-700")).status_code == 200
    web.down(HANGZHOU_JWKS_URI)
    clock.advance(301)  # the cached set is past its ttl: a refresh is attempted and fails
    resp = _recognise(client, BANK, city_assertion(HZ, BANK, "600-700"))
    assert resp.status_code == 200, resp.text
    assert web.hits[HANGZHOU_JWKS_URI] == 3  # one good fetch, two attempts of the failed refresh


def test_with_nothing_cached_a_partner_outage_fails_fast_with_a_clear_problem(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys
) -> None:
    web.down(HANGZHOU_JWKS_URI)
    body = _problem(_recognise(client, BANK, city_assertion(HZ, BANK, "600-700")), 503, "jwks_unavailable")
    assert body["issuer_partner"] == HZ and body["reason"] == "transport"
    attempts = web.hits[HANGZHOU_JWKS_URI]
    # Within the cool-down the next request fails at once, without knocking on the partner again.
    _problem(_recognise(client, BANK, city_assertion(HZ, BANK, "600-700")), 503, "jwks_unavailable")
    assert web.hits[HANGZHOU_JWKS_URI] == attempts == 2


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (httpx.Response(200, content=b"<html>maintenance</html>"), "not_json"),
        (httpx.Response(200, json={"keys": [{"kty": "AKP", "kid": "pq"}]}), "no_usable_keys"),
    ],
)
def test_a_garbage_jwks_is_a_502(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys, reply: httpx.Response, reason: str
) -> None:
    web.routes[HANGZHOU_JWKS_URI] = reply
    body = _problem(_recognise(client, BANK, city_assertion(HZ, BANK, "600-700")), 502, "jwks_invalid")
    assert body["reason"] == reason and body["issuer_partner"] == HZ


# --- RFC 8725: one problem per fault -------------------------------------------------------------


def _faults() -> dict[str, tuple[str, int, str]]:
    key = partner_key(WZ)
    header = {"typ": TYP_SCORE_ASSERTION, "kid": key.kid}
    claims = city_claims(WZ, BANK, "700-749")
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    return {
        # With an empty signature the token is not even a compact JWS; with any bytes there, alg decides.
        "alg none": (unsigned(header, claims), 401, "token_malformed"),
        "alg none with a signature": (unsigned(header, claims) + "c2ln", 401, "algorithm_not_allowed"),
        "HS256 keyed with the public key": (hmac_signed(header, claims, public_pem), 401, "algorithm_not_allowed"),
        "typ JWT": (forge({"typ": "JWT"}, claims, key), 401, "token_type_mismatch"),
        "typ of a status list": (forge({"typ": "statuslist+jwt"}, claims, key), 401, "token_type_mismatch"),
        "no typ": (forge({}, claims, key), 401, "token_type_mismatch"),
        "crit": (forge({"typ": TYP_SCORE_ASSERTION, "crit": ["exp"]}, claims, key), 401, "unsupported_critical_header"),
        "jku": (
            forge({"typ": TYP_SCORE_ASSERTION, "jku": "https://evil.example/jwks"}, claims, key),
            401,
            "forbidden_header",
        ),
        "x5u": (
            forge({"typ": TYP_SCORE_ASSERTION, "x5u": "https://evil.example/cert"}, claims, key),
            401,
            "forbidden_header",
        ),
        "aud array": (sign({**claims, "aud": [BANK]}, key, TYP_SCORE_ASSERTION), 401, "audience_mismatch"),
        "other audience": (sign({**claims, "aud": SCENIC}, key, TYP_SCORE_ASSERTION), 403, "assertion_not_for_caller"),
        "expired": (
            sign({**claims, "iat": now - 200, "nbf": now - 200, "exp": now - 10}, key, TYP_SCORE_ASSERTION),
            401,
            "token_expired",
        ),
        "issued in the future": (
            sign({**claims, "iat": now + 120}, key, TYP_SCORE_ASSERTION),
            401,
            "token_issued_in_future",
        ),
        "not yet valid": (sign({**claims, "nbf": now + 120}, key, TYP_SCORE_ASSERTION), 401, "token_not_yet_valid"),
        "signed by another key": (city_assertion(WZ, BANK, "700-749", key=generate_signing_key()), 401, "unknown_key"),
        "bad signature": (forge(header, claims, generate_signing_key()), 401, "bad_signature"),
        "lifetime over 7 days": (
            sign({**claims, "exp": now + 8 * 86400}, key, TYP_SCORE_ASSERTION),
            401,
            "lifetime_too_long",
        ),
        "not a JWS": ("not.a.jws", 401, "token_malformed"),
        "no iss": (
            sign({k: v for k, v in claims.items() if k != "iss"}, key, TYP_SCORE_ASSERTION),
            401,
            "missing_claim",
        ),
    }


FAULTS = sorted(_faults())


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_each_token_fault_has_its_own_problem(client: TestClient, fetcher: PartnerKeys, fault: str) -> None:
    token, status, code = _faults()[fault]
    _problem(_recognise(client, BANK, token), status, code)


# --- trust and policy -----------------------------------------------------------------------------


def test_issuer_trust_rules(client: TestClient, gw: Gateway, fetcher: PartnerKeys) -> None:
    unknown = sign(
        city_claims(WZ, BANK, "700-749", iss="https://credit.ningbo.example"), partner_key(WZ), TYP_SCORE_ASSERTION
    )
    assert _problem(_recognise(client, BANK, unknown), 403, "issuer_not_trusted")["check"] == "unknown_issuer"
    scenic = sign(
        city_claims(WZ, BANK, "700-749", iss="https://scenic.example"), partner_key(SCENIC), TYP_SCORE_ASSERTION
    )
    assert _problem(_recognise(client, BANK, scenic), 403, "issuer_not_trusted")["check"] == "not_a_city_platform"
    quzhou = sign(
        city_claims(WZ, BANK, "700-749", iss="https://credit.quzhou.example"),
        partner_key("quzhou-credit"),
        TYP_SCORE_ASSERTION,
    )
    _problem(_recognise(client, BANK, quzhou), 403, "issuer_disabled")
    # Claiming to be Wenzhou (or us) does not make Hangzhou's key Wenzhou's.
    _problem(_recognise(client, BANK, city_assertion(WZ, BANK, "700-749", key=partner_key(HZ))), 401, "unknown_key")
    ours = sign(city_claims(WZ, BANK, "700-749", iss=gw.settings.issuer), partner_key(WZ), TYP_SCORE_ASSERTION)
    _problem(_recognise(client, BANK, ours), 401, "unknown_key")


def test_a_city_may_only_assert_tiers_of_its_own_schemes(client: TestClient, fetcher: PartnerKeys) -> None:
    borrowed = {"scheme": "sx-integrity/2026.1", "code": "A", "label": {"zh": "诚信优秀", "en": "Outstanding"}}
    resp = _recognise(client, BANK, city_assertion(WZ, BANK, "A", tier=borrowed))
    assert _problem(resp, 403, "tier_scheme_not_allowed")["expected_prefix"] == "wenzhou-credit/"


def test_purpose_rules(client: TestClient, fetcher: PartnerKeys) -> None:
    tourism = city_assertion(WZ, BANK, "700-749", purpose="tourism")
    _problem(_recognise(client, BANK, tourism), 403, "purpose_not_allowed")
    loan = city_assertion(WZ, BANK, "700-749", purpose="loan_discount")
    _problem(_recognise(client, BANK, loan, purpose="deposit_waiver"), 403, "purpose_mismatch")
    assert _recognise(client, BANK, loan, purpose="loan_discount").status_code == 200


def test_claims_outside_the_published_schema_are_a_422(client: TestClient, fetcher: PartnerKeys) -> None:
    resp = _recognise(client, BANK, city_assertion(WZ, BANK, "700-749", name="张三"))
    body = _problem(resp, 422, "assertion_schema_invalid")
    assert "张三" not in resp.text and body["errors"]


def test_only_exchange_partners_may_ask(client: TestClient, keys: dict[str, str], fetcher: PartnerKeys) -> None:
    resp = client.post(
        "/v1/recognitions",
        json={"assertion": city_assertion(WZ, BANK, "700-749")},
        headers=_h(keys["sx-transport"]),
    )
    _problem(resp, 403, "forbidden")
    _problem(client.post("/v1/recognitions", json={"assertion": "x"}), 401, "unauthenticated")


# --- status lists ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (Status.INVALID, "assertion_revoked"),
        (Status.SUPERSEDED, "assertion_superseded"),
        (Status.SUSPENDED, "assertion_suspended"),
    ],
)
def test_a_revoked_superseded_or_suspended_assertion_is_refused(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys, status: Status, code: str
) -> None:
    web.serve_token(WZ_LIST, status_list_token(WZ, WZ_LIST, {41: status}))
    refused = city_assertion(WZ, BANK, "700-749", status=(WZ_LIST, 41))
    assert _problem(_recognise(client, BANK, refused), 403, code)["status_value"] == status
    neighbour = city_assertion(WZ, BANK, "700-749", status=(WZ_LIST, 42))
    assert _recognise(client, BANK, neighbour).status_code == 200
    assert web.hits[WZ_LIST] == 1  # the list is cached within its ttl


@pytest.mark.parametrize(
    ("served", "failed_check"),
    [
        ("bad_signature", "bad_signature"),
        ("wrong_sub", "subject_mismatch"),
        ("expired", "token_expired"),
        ("foreign_key", "unknown_key"),
    ],
)
def test_an_unacceptable_status_list_is_refused(
    client: TestClient, web: FakePartner, fetcher: PartnerKeys, served: str, failed_check: str
) -> None:
    now = int(time.time())
    tokens = {
        "bad_signature": lambda: forge(
            {"typ": "statuslist+jwt", "kid": partner_key(WZ).kid},
            json.loads(b64url_decode(status_list_token(WZ, WZ_LIST, {}).split(".")[1])),
            generate_signing_key(),
        ),
        "wrong_sub": lambda: status_list_token(WZ, WZ_LIST, {}, sub="https://credit.wenzhou.example/status/2"),
        "expired": lambda: status_list_token(WZ, WZ_LIST, {}, iat=now - 100, exp=now - 10),
        "foreign_key": lambda: status_list_token(WZ, WZ_LIST, {}, key=partner_key(HZ)),
    }
    web.serve_token(WZ_LIST, tokens[served]())
    body = _problem(
        _recognise(client, BANK, city_assertion(WZ, BANK, "700-749", status=(WZ_LIST, 1))), 502, "status_list_rejected"
    )
    assert body["failed_check"] == failed_check


def test_an_unreachable_status_list_fails_closed(client: TestClient, web: FakePartner, fetcher: PartnerKeys) -> None:
    web.down(WZ_LIST)
    resp = _recognise(client, BANK, city_assertion(WZ, BANK, "700-749", status=(WZ_LIST, 1)))
    _problem(resp, 503, "status_list_unavailable")
