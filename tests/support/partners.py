"""The partners' side in tests: their fixture keys, client assertions and access tokens."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.config import DEFAULT_ISSUER
from gateway.exchange import SigningKey, make_client_assertion, read_signing_key

KEYS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "partner-keys"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@cache
def partner_key(partner_id: str) -> SigningKey:
    return read_signing_key(KEYS_DIR / f"{partner_id}.pem")


def client_assertion(partner_id: str, audience: str = DEFAULT_ISSUER) -> str:
    return make_client_assertion(partner_key(partner_id), client_id=partner_id, audience=audience)


def token_form(assertion: str, scope: str | None = None) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if scope is not None:
        form["scope"] = scope
    return form


def access_token(client: TestClient, partner_id: str, scope: str | None = None) -> str:
    resp = client.post("/oauth/token", data=token_form(client_assertion(partner_id), scope))
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token
