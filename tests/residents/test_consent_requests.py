"""Partner-initiated consent requests (issue 9 §2): the bank asks, the resident answers, the
assertion arrives without any ID number sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.clock import utcnow
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.exchange.oauth import PartnerPrincipal
from gateway.services.residents import callbacks
from gateway.services.residents import consent_requests as service
from gateway.services.residents.retention import run_retention
from gateway.store.tables import consents, disclosures
from gateway.store.tables_operations import webhook_outbox
from gateway.store.tables_residents import callback_attempts, consent_requests
from tests.residents.helpers import enrol_without_authorisation, h, login, person_of, traces
from tests.support import make_id
from tests.support.partners import access_token

BANK = "sx-example-bank"
CALLBACK = "https://bank.example.com/score-gateway/consent-results"


class Receiver:
    """A partner's callback endpoint, as an httpx MockTransport: answers from a script."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses) or [200]
        self.bodies: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == CALLBACK and request.headers["content-type"] == "application/jwt"
        self.bodies.append(request.content.decode())
        return httpx.Response(self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0])


def _resident(client: TestClient, gw: Gateway, keys: dict[str, str], seq: int, *, authorise: bool = True) -> Any:
    idn, name = make_id(seq=seq), "陈三"
    enrol_without_authorisation(client, keys, idn, name)
    me = login(gw, idn, name)
    if authorise:
        client.post("/v1/me/authorisation", json={"channel": "app"}, headers=me).raise_for_status()
    return idn, me


def _create(client: TestClient, token: str, **extra: Any) -> Any:
    body = {"purpose": "loan_discount", "disclosure": "tier", "valid_days": 30, **extra}
    return client.post("/v1/consent-requests", json=body, headers=h(token))


def _verify(client: TestClient, token: str, typ: str, audience: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    assert header["typ"] == typ
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(token, key=key, algorithms=["ES256", "EdDSA"], audience=audience)
    return claims


def test_approve_poll_and_signed_callback(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, me = _resident(client, gw, keys, 941)
    receiver = Receiver(200)
    client.app.state.callback_transport = httpx.MockTransport(receiver)  # type: ignore[attr-defined]
    bank = access_token(client, BANK)
    created = _create(client, bank, callback_uri=CALLBACK, state="loan-app-77")
    assert created.status_code == 201, created.text
    req = created.json()
    rid = req["request_id"]
    assert rid.startswith("crq_") and len(rid) >= 36
    assert req["links"]["web"].endswith(f"/consent-requests/{rid}")
    # The QR codes encode the same link; the landing page has a strict CSP.
    svg = client.get(f"/v1/consent-requests/{rid}/qr.svg")
    png = client.get(f"/v1/consent-requests/{rid}/qr.png")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    page = client.get(f"/consent-requests/{rid}")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    assert "示例商业银行" in page.text and "loan_discount" in page.text and "<script" not in page.text
    assert client.get("/v1/consent-requests/crq_unknownunknown/qr.svg").status_code == 404

    shown = client.get(f"/v1/me/consent-requests/{rid}", headers=me).json()
    assert shown["partner"]["name"]["zh"] and shown["purpose"] == "loan_discount" and shown["valid_days"] == 30
    assert shown["notice"]["id"] == "sx-disclosure-notice" and shown["status"] == "pending"
    assert client.get(f"/v1/consent-requests/{rid}", headers=h(bank)).json()["status"] == "pending"

    answer = client.post(f"/v1/me/consent-requests/{rid}/approve", json={"channel": "wechat"}, headers=me)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "approved" and answer.json()["consent"].startswith("cns_")

    polled = client.get(f"/v1/consent-requests/{rid}", headers=h(bank)).json()
    assert polled["status"] == "approved" and polled["state"] == "loan-app-77"
    claims = _verify(client, polled["assertion"], "score-assertion+jwt", BANK)
    rid_norm = parse_resident_id(idn).normalised
    assert claims["sub"] == gw.hasher.pairwise_subject(gw.hasher.id_hash(rid_norm), BANK)
    assert claims["consent"] == answer.json()["consent"] and idn not in polled["assertion"]

    # The callback: one POST, signed, for the bank only, carrying the same assertion.
    assert len(receiver.bodies) == 1
    result = _verify(client, receiver.bodies[0], "consent-request-result+jwt", BANK)
    assert result["request_id"] == rid and result["status"] == "approved" and result["state"] == "loan-app-77"
    assert result["assertion"] == polled["assertion"]
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(client, receiver.bodies[0], "consent-request-result+jwt", "hangzhou-credit")
    with gw.engine.connect() as conn:
        attempts = conn.execute(select(callback_attempts.c.outcome).where(callback_attempts.c.request_id == rid))
        assert [a for (a,) in attempts] == ["delivered"]
        channel = conn.execute(select(consents.c.channel).where(consents.c.id == answer.json()["consent"]))
        assert channel.scalar_one() == "wechat"

    # Answered once: a second answer and another resident are refused.
    again = client.post(f"/v1/me/consent-requests/{rid}/approve", json={}, headers=me)
    assert again.status_code == 409 and again.json()["code"] == "consent_request_answered"
    _, other = _resident(client, gw, keys, 942)
    assert client.get(f"/v1/me/consent-requests/{rid}", headers=other).json()["code"] == "consent_request_not_found"
    assert client.post(f"/v1/me/consent-requests/{rid}/decline", json={}, headers=other).status_code == 409
    # Another partner polling gets the same 404 as for a request that does not exist.
    city = client.get(f"/v1/consent-requests/{rid}", headers=h(access_token(client, "hangzhou-credit")))
    missing = client.get("/v1/consent-requests/crq_doesnotexist00", headers=h(bank))
    assert city.status_code == missing.status_code == 404
    assert city.json()["code"] == missing.json()["code"] == "consent_request_not_found"


def test_decline(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    _, me = _resident(client, gw, keys, 943)
    bank = access_token(client, BANK)
    rid = _create(client, bank).json()["request_id"]
    resp = client.post(f"/v1/me/consent-requests/{rid}/decline", json={"channel": "kiosk"}, headers=me)
    assert resp.status_code == 200 and resp.json()["status"] == "declined" and resp.json()["consent"] is None
    polled = client.get(f"/v1/consent-requests/{rid}", headers=h(bank)).json()
    assert polled["status"] == "declined" and "assertion" not in polled
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == 0
        # The bank's webhook hears the answer (issue 13's outbox): the request and its status only.
        o = webhook_outbox
        told = conn.execute(select(o.c.partner_id, o.c.data).where(o.c.event_type == "consent_request.answered")).all()
    assert [(r.partner_id, r.data) for r in told] == [(BANK, {"request": rid, "status": "declined"})]


def test_expired_request_cannot_be_answered(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    _, me = _resident(client, gw, keys, 944)
    partner = gw.partners.get(BANK)
    assert partner is not None
    principal = PartnerPrincipal(partner=partner, scopes=frozenset(partner.allowed_purposes), token_id="t-1")
    old = service.create_request(
        gw,
        principal,
        purpose="loan_discount",
        disclosure="tier",
        valid_days=30,
        programme_id=None,
        callback_uri=None,
        state=None,
        now=utcnow() - timedelta(minutes=11),
    )
    rid = old["request_id"]
    resp = client.post(f"/v1/me/consent-requests/{rid}/approve", json={}, headers=me)
    assert resp.status_code == 410 and resp.json()["code"] == "consent_request_expired"
    assert client.get(f"/v1/consent-requests/{rid}", headers=h(access_token(client, BANK))).json()["status"] == (
        "expired"
    )


def test_callback_must_be_registered(client: TestClient, gw: Gateway) -> None:
    bank = access_token(client, BANK)
    for uri in ("https://evil.example/steal", "http://bank.example.com/score-gateway/consent-results", CALLBACK + "/x"):
        resp = _create(client, bank, callback_uri=uri)
        assert resp.status_code == 422 and resp.json()["code"] == "callback_not_registered"
        assert uri not in resp.text
    refused = _create(client, bank, purpose="tourism")
    assert refused.status_code == 422 and refused.json()["code"] == "consent_request_invalid"
    assert _create(client, bank, valid_days=400).status_code == 422


def test_approval_needs_authorisation_and_leaves_nothing_on_failure(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    bank = access_token(client, BANK)
    _, unauthorised = _resident(client, gw, keys, 945, authorise=False)
    rid = _create(client, bank).json()["request_id"]
    resp = client.post(f"/v1/me/consent-requests/{rid}/approve", json={}, headers=unauthorised)
    assert resp.status_code == 409 and resp.json()["code"] == "authorisation_missing"
    # Authorised but not eligible (no residency reported): the assertion cannot be issued, so
    # neither the consent nor the answer is written.
    bare = login(gw, make_id(seq=946), "林四")
    client.post("/v1/me/authorisation", json={"channel": "app"}, headers=bare).raise_for_status()
    resp = client.post(f"/v1/me/consent-requests/{rid}/approve", json={}, headers=bare)
    assert resp.status_code == 403 and resp.json()["code"] == "disclosure_refused"
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(disclosures)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(webhook_outbox)).scalar_one() == 0
        status = conn.execute(select(consent_requests.c.status).where(consent_requests.c.id == rid)).scalar_one()
    assert status == "pending"


def test_callback_retries_are_bounded_and_logged(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    _, me = _resident(client, gw, keys, 947)
    client.app.state.callback_transport = httpx.MockTransport(Receiver(200))  # type: ignore[attr-defined]
    bank = access_token(client, BANK)
    rid = _create(client, bank, callback_uri=CALLBACK).json()["request_id"]
    client.post(f"/v1/me/consent-requests/{rid}/approve", json={}, headers=me).raise_for_status()
    with gw.engine.connect() as conn:
        row = conn.execute(select(consent_requests).where(consent_requests.c.id == rid)).one()
    flaky = Receiver(503, 503, 200)
    assert callbacks.deliver_result(gw, row, transport=httpx.MockTransport(flaky), wait_seconds=0) is True
    down = Receiver(503)
    assert callbacks.deliver_result(gw, row, transport=httpx.MockTransport(down), wait_seconds=0) is False
    assert len(down.bodies) == callbacks.MAX_ATTEMPTS
    with gw.engine.connect() as conn:
        outcomes = [
            o
            for (o,) in conn.execute(
                select(callback_attempts.c.outcome)
                .where(callback_attempts.c.request_id == rid)
                .order_by(callback_attempts.c.id)
            )
        ]
    assert outcomes == ["delivered", "http_error", "http_error", "delivered", "http_error", "http_error", "http_error"]


def test_id_number_flow_only_for_partners_the_registry_allows(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    idn, _ = _resident(client, gw, keys, 948)
    partner = gw.partners.get(BANK)
    assert partner is not None and partner.document["lookup_by_id_number"] is True
    bank = access_token(client, BANK)
    body = {"subject": {"id_number": idn, "name": "陈三"}, "purpose": "loan_discount", "disclosure": "tier"}
    partner.document["lookup_by_id_number"] = False  # type: ignore[index]
    try:
        resp = client.post("/v1/assertions", json=body, headers=h(bank))
    finally:
        partner.document["lookup_by_id_number"] = True  # type: ignore[index]
    assert resp.status_code == 403 and resp.json()["code"] == "id_number_lookup_not_allowed"


def test_withdrawal_deletes_requests_and_their_delivery_log(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    idn, me = _resident(client, gw, keys, 949)
    client.app.state.callback_transport = httpx.MockTransport(Receiver(200))  # type: ignore[attr-defined]
    bank = access_token(client, BANK)
    rid = _create(client, bank, callback_uri=CALLBACK).json()["request_id"]
    client.post(f"/v1/me/consent-requests/{rid}/approve", json={}, headers=me).raise_for_status()
    client.delete("/v1/me/authorisation", headers=me).raise_for_status()
    person = person_of(gw, idn)
    assert person is not None
    run_retention(gw, now=utcnow() + timedelta(days=31))
    assert traces(gw, person.id, person.id_hash) == {}
    with gw.engine.connect() as conn:
        left = conn.execute(
            select(func.count()).select_from(callback_attempts).where(callback_attempts.c.request_id == rid)
        )
        assert left.scalar_one() == 0
    assert client.get(f"/v1/consent-requests/{rid}", headers=h(bank)).status_code == 404


def test_unknown_notice_version_refuses_the_answer(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    _, me = _resident(client, gw, keys, 950)
    rid = _create(client, access_token(client, BANK)).json()["request_id"]
    body = {"notice_id": "sx-disclosure-notice", "notice_version": "1999.1"}
    resp = client.post(f"/v1/me/consent-requests/{rid}/approve", json=body, headers=me)
    assert resp.status_code == 422 and resp.json()["code"] == "notice_version_unknown"
    assert client.get(f"/v1/me/consent-requests/{rid}", headers=me).json()["status"] == "pending"
