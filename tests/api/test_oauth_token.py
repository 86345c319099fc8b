"""The token endpoint: one test per client-assertion fault, then scopes and partner state."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.config import DEFAULT_ISSUER, PROJECT_ROOT
from gateway.exchange import TYP_SCORE_ASSERTION, sign
from gateway.partners import PartnerRegistry
from gateway.services.context import Gateway
from tests.support.jose import forge, hmac_signed, unsigned
from tests.support.partners import client_assertion, partner_key, token_form

BANK = "sx-example-bank"
TYP = "client-authentication+jwt"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": BANK,
        "sub": BANK,
        "aud": DEFAULT_ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    for k, v in overrides.items():
        if v is None:
            claims.pop(k)
        else:
            claims[k] = v
    return claims


def _signed(claims: dict[str, Any], partner: str = BANK, typ: str = TYP) -> str:
    return sign(claims, partner_key(partner), typ)


def _post(client: TestClient, assertion: str, scope: str | None = None) -> Any:
    return client.post("/oauth/token", data=token_form(assertion, scope))


def _public_pem() -> bytes:
    return (
        partner_key(BANK)
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


FAULTS: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (
        lambda: _signed(_claims(iat=int(time.time()) - 200, exp=int(time.time()) - 100)),
        "token_expired",
    ),
    "future_iat_beyond_window": (
        lambda: _signed(_claims(iat=int(time.time()) + 90, exp=int(time.time()) + 150)),
        "token_issued_in_future",
    ),
    "wrong_aud": (lambda: _signed(_claims(aud="https://other.example")), "audience_mismatch"),
    "token_endpoint_as_aud": (
        lambda: _signed(_claims(aud=f"{DEFAULT_ISSUER}/oauth/token")),
        "audience_mismatch",
    ),
    "array_aud": (lambda: _signed(_claims(aud=[DEFAULT_ISSUER])), "audience_mismatch"),
    "exp_too_far": (lambda: _signed(_claims(exp=int(time.time()) + 3600)), "lifetime_too_long"),
    "unknown_kid": (
        lambda: forge({"typ": TYP, "kid": "not-a-registered-kid"}, _claims(), partner_key(BANK)),
        "unknown_key",
    ),
    # The canonical alg-none token has an empty signature: refused at the shape check already.
    "alg_none": (lambda: unsigned({"typ": TYP, "kid": partner_key(BANK).kid}, _claims()), "token_malformed"),
    "alg_none_with_a_signature": (
        lambda: unsigned({"typ": TYP, "kid": partner_key(BANK).kid}, _claims()) + "c2ln",
        "algorithm_not_allowed",
    ),
    "hs256_with_public_key_as_secret": (
        lambda: hmac_signed({"typ": TYP, "kid": partner_key(BANK).kid}, _claims(), _public_pem()),
        "algorithm_not_allowed",
    ),
    "typ_swapped": (lambda: _signed(_claims(), typ=TYP_SCORE_ASSERTION), "token_type_mismatch"),
    "unknown_crit": (
        lambda: forge({"typ": TYP, "crit": ["exp"]}, _claims(), partner_key(BANK)),
        "unsupported_critical_header",
    ),
    "jku_header": (
        lambda: forge({"typ": TYP, "jku": "https://attacker.example/jwks.json"}, _claims(), partner_key(BANK)),
        "forbidden_header",
    ),
    "unregistered_partner": (
        lambda: _signed(_claims(iss="nobody-bank", sub="nobody-bank")),
        "unknown_client",
    ),
    "sub_differs_from_iss": (lambda: _signed(_claims(sub="sx-scenic-example")), "subject_mismatch"),
    "signed_by_another_partner": (lambda: _signed(_claims(), partner="sx-scenic-example"), "unknown_key"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_client_assertion_fault_is_refused(client: TestClient, fault: str) -> None:
    make, code = FAULTS[fault]
    resp = _post(client, make())
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert resp.headers["content-type"] == "application/problem+json"
    assert body["code"] == code
    assert body["error"] == "invalid_client"
    assert "access_token" not in body


def test_a_good_assertion_gets_a_short_lived_scoped_token(client: TestClient) -> None:
    resp = _post(client, client_assertion(BANK))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 600
    assert body["scope"].split() == ["deposit_waiver", "loan_discount", "medical_pay_later"]


def test_reused_jti_is_refused(client: TestClient) -> None:
    assertion = client_assertion(BANK)
    assert _post(client, assertion).status_code == 200
    again = _post(client, assertion)
    assert again.status_code == 401 and again.json()["code"] == "jti_replayed"


def test_reused_jti_is_refused_across_gateway_processes(gw: Gateway) -> None:
    # Two app instances over one database stand for two gateway processes.
    other = replace(gw, oauth=type(gw.oauth)(gw.settings, gw.engine, gw.keyring, gw.partners))
    assertion = client_assertion(BANK)
    with TestClient(create_app(gw)) as first, TestClient(create_app(other)) as second:
        assert _post(first, assertion).status_code == 200
        assert _post(second, assertion).json()["code"] == "jti_replayed"


def test_scope_beyond_allowed_purposes_is_invalid_scope(client: TestClient) -> None:
    resp = _post(client, client_assertion(BANK), scope="loan_discount tourism")
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_scope" and resp.json()["error"] == "invalid_scope"
    ok = _post(client, client_assertion(BANK), scope="loan_discount")
    assert ok.json()["scope"] == "loan_discount"


def test_wrong_grant_and_missing_assertion(client: TestClient) -> None:
    form = token_form(client_assertion(BANK))
    resp = client.post("/oauth/token", data={**form, "grant_type": "password"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    resp = client.post("/oauth/token", json=form)
    assert resp.status_code == 415


def test_disabled_partner_is_refused_and_its_tokens_stop_working(gw: Gateway, tmp_path: Path) -> None:
    partners_dir = tmp_path / "partners"
    partners_dir.mkdir()
    for path in (PROJECT_ROOT / "partners").glob("*.json"):
        (partners_dir / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    registry = PartnerRegistry(partners_dir)
    gw2 = replace(gw, partners=registry, oauth=type(gw.oauth)(gw.settings, gw.engine, gw.keyring, registry))
    with TestClient(create_app(gw2)) as client:
        token = _post(client, client_assertion(BANK)).json()["access_token"]
        doc = json.loads((partners_dir / f"{BANK}.json").read_text(encoding="utf-8"))
        (partners_dir / f"{BANK}.json").write_text(json.dumps({**doc, "enabled": False}), encoding="utf-8")
        registry.reload()  # no restart
        resp = _post(client, client_assertion(BANK))
        assert resp.status_code == 401 and resp.json()["code"] == "unknown_client"
        used = client.post(
            "/v1/assertions",
            json={"subject": {"id_number": "11010519491231002X", "name": "张三"}, "purpose": "loan_discount"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert used.status_code == 401


def test_access_token_is_not_accepted_where_another_token_kind_is_expected(client: TestClient) -> None:
    # A client assertion presented as an access token: typ differs, so it is refused.
    resp = client.post(
        "/v1/assertions",
        json={"subject": {"id_number": "11010519491231002X", "name": "张三"}, "purpose": "loan_discount"},
        headers={"Authorization": f"Bearer {client_assertion(BANK)}"},
    )
    assert resp.status_code == 401 and resp.json()["code"] == "token_type_mismatch"


def test_an_edited_partner_file_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    partners_dir = tmp_path / "partners"
    partners_dir.mkdir()
    for path in (PROJECT_ROOT / "partners").glob("*.json"):
        (partners_dir / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    registry = PartnerRegistry(partners_dir)
    assert registry.reload_if_changed() is False
    doc = json.loads((partners_dir / f"{BANK}.json").read_text(encoding="utf-8"))
    (partners_dir / f"{BANK}.json").write_text(json.dumps({**doc, "enabled": False}), encoding="utf-8")
    assert registry.reload_if_changed() is True
    assert registry.enabled(BANK) is None
    (partners_dir / f"{BANK}.json").write_text("{ broken", encoding="utf-8")
    assert registry.reload_if_changed() is False  # a broken edit keeps the previous registry
    assert registry.get(BANK) is not None and registry.enabled(BANK) is None


def test_a_partner_registered_by_jwks_uri_gets_a_token(gw: Gateway, tmp_path: Path) -> None:
    from gateway.services.recognition.partner_keys import PartnerKeys
    from tests.support.assertions import FakePartner, no_sleep

    partners_dir = tmp_path / "partners"
    partners_dir.mkdir()
    for path in (PROJECT_ROOT / "partners").glob("*.json"):
        (partners_dir / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    uri = "https://bank.example/.well-known/jwks.json"
    doc = json.loads((partners_dir / f"{BANK}.json").read_text(encoding="utf-8"))
    doc.pop("jwks")
    (partners_dir / f"{BANK}.json").write_text(json.dumps({**doc, "jwks_uri": uri}), encoding="utf-8")
    registry = PartnerRegistry(partners_dir)
    assert registry.get(BANK) is not None and not registry.get(BANK).keys  # type: ignore[union-attr]
    web = FakePartner()
    web.serve_jwks(uri, partner_key(BANK))
    gw2 = replace(
        gw,
        partners=registry,
        oauth=type(gw.oauth)(gw.settings, gw.engine, gw.keyring, registry),
        partner_keys=PartnerKeys(transport=web.transport(), sleep=no_sleep),
    )
    with TestClient(create_app(gw2)) as client:
        resp = _post(client, client_assertion(BANK))
        assert resp.status_code == 200, resp.text
        # A key the partner does not publish is still refused.
        other = _post(client, _signed(_claims(), partner="sx-scenic-example"))
        assert other.status_code == 401 and other.json()["code"] == "unknown_key"
