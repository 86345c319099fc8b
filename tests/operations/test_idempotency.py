"""Idempotency-Key on POST /v1/assertions (and the shared dependency) — issue 13."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.store.tables import disclosures
from gateway.store.tables_operations import idempotency_records
from tests.api.test_assertions import _consent, _enrol
from tests.support import make_id
from tests.support.partners import access_token

BANK = "sx-example-bank"


@pytest.fixture
def bank(client: TestClient, gw: Gateway, unit_tokens: dict[str, str]) -> tuple[str, str, str]:
    idn, name = make_id(seq=733), "王小青"
    _enrol(client, unit_tokens, idn, name)
    _consent(client, gw, idn, name, BANK, ["loan_discount"], "tier")
    return access_token(client, BANK), idn, name


def _post(client: TestClient, token: str, idn: str, name: str, key: str | None, purpose: str = "loan_discount") -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"subject": {"id_number": idn, "name": name}, "purpose": purpose, "disclosure": "tier"}
    return client.post("/v1/assertions", json=body, headers=headers)


def _issued(gw: Gateway) -> int:
    with gw.engine.connect() as conn:
        return len(conn.execute(select(disclosures.c.jti)).all())


def test_same_key_same_body_gets_the_first_answer(client: TestClient, gw: Gateway, bank: tuple[str, str, str]) -> None:
    token, idn, name = bank
    first = _post(client, token, idn, name, "order-1")
    again = _post(client, token, idn, name, "order-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    assert _issued(gw) == 1  # one assertion, one disclosure-log entry


def test_without_a_key_every_post_issues(client: TestClient, gw: Gateway, bank: tuple[str, str, str]) -> None:
    token, idn, name = bank
    a, b = _post(client, token, idn, name, None), _post(client, token, idn, name, None)
    assert a.json()["jti"] != b.json()["jti"] and _issued(gw) == 2


def test_same_key_other_body_is_422(client: TestClient, bank: tuple[str, str, str]) -> None:
    token, idn, name = bank
    assert _post(client, token, idn, name, "order-2").status_code == 201
    resp = _post(client, token, idn, "王小蓝", "order-2")
    assert resp.status_code == 422 and resp.json()["code"] == "idempotency_key_reused"
    assert "王小" not in resp.text


def test_keys_are_per_partner(client: TestClient, gw: Gateway, bank: tuple[str, str, str]) -> None:
    token, idn, name = bank
    _consent(client, gw, idn, name, "sx-scenic-example", ["tourism"], "tier")
    scenic = access_token(client, "sx-scenic-example")
    a = _post(client, token, idn, name, "shared-key")
    b = _post(client, scenic, idn, name, "shared-key", purpose="tourism")
    assert a.status_code == 201 and b.status_code == 201, b.text
    assert a.json()["jti"] != b.json()["jti"]


def test_a_refusal_frees_the_key(client: TestClient, gw: Gateway, bank: tuple[str, str, str]) -> None:
    token = bank[0]
    other_idn, other_name = make_id(seq=734), "李小白"
    refused = _post(client, token, other_idn, other_name, "order-3")
    assert refused.status_code == 403
    with gw.engine.connect() as conn:
        assert conn.execute(select(idempotency_records)).all() == []


def test_expired_keys_are_forgotten(client: TestClient, gw: Gateway, bank: tuple[str, str, str]) -> None:
    token, idn, name = bank
    first = _post(client, token, idn, name, "order-4")
    with gw.engine.begin() as conn:
        conn.execute(update(idempotency_records).values(expires_at=utcnow()))
    again = _post(client, token, idn, name, "order-4")
    assert again.status_code == 201 and again.json()["jti"] != first.json()["jti"]


def test_a_key_still_running_is_409(client: TestClient, gw: Gateway, bank: tuple[str, str, str]) -> None:
    token, idn, name = bank
    _post(client, token, idn, name, "order-5")
    with gw.engine.begin() as conn:
        conn.execute(update(idempotency_records).values(status=0))  # as if the first were still running
    resp = _post(client, token, idn, name, "order-5")
    assert resp.status_code == 409 and resp.json()["code"] == "idempotency_in_progress"


@pytest.mark.parametrize("key", ["", "x" * 256, "with space"])
def test_malformed_keys_are_400(client: TestClient, bank: tuple[str, str, str], key: str) -> None:
    token, idn, name = bank
    resp = _post(client, token, idn, name, key)
    assert resp.status_code == 400 and resp.json()["code"] == "idempotency_key_invalid"


@pytest.mark.parametrize(
    ("path", "body", "partner"),
    [
        ("/v1/consent-requests", {"purpose": "loan_discount", "disclosure": "tier", "valid_days": 30}, BANK),
        ("/v1/presentation-requests", {"purpose": "tourism", "claims": ["level_at_least.good"]}, "sx-scenic-example"),
    ],
)
def test_requests_to_residents_are_idempotent_too(
    client: TestClient, path: str, body: dict[str, Any], partner: str
) -> None:
    # A retried consent or presentation request must not put a second request in front of the resident.
    headers = {"Authorization": f"Bearer {access_token(client, partner)}", "Idempotency-Key": "ask-1"}
    first = client.post(path, json=body, headers=headers)
    again = client.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["request_id"] == first.json()["request_id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = client.post(path, json={**body, "purpose": "cross_city_recognition"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    fresh = client.post(path, json=body, headers={"Authorization": headers["Authorization"]})
    assert fresh.status_code == 201 and fresh.json()["request_id"] != first.json()["request_id"]
