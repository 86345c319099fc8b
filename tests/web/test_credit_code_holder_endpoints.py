"""What the credit code page's script relies on (issue 11), without a browser: the credential
endpoint takes the residents' session only with its CSRF token; the page's QR endpoint draws only
presentations; a holder can decline a presentation request and the verifier's poll says so."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.exchange import generate_signing_key
from gateway.exchange.key_proof import make_key_proof
from gateway.exchange.sd_jwt_vc import present
from gateway.services.context import Gateway
from tests.support.partners import access_token
from tests.web.conftest import enrol
from tests.web.test_pages_security import resident_sign_in
from tests.web.test_staff_sign_in import BASE

SCENIC = "sx-scenic-example"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _page_csrf(client: TestClient) -> str:
    page = client.get("/me/credit-code")
    assert page.status_code == 200
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match and "/web-static/credit_code.js" in page.text
    return match.group(1)


def _credential_request(gw: Gateway, client: TestClient, key: object) -> dict[str, object]:
    nonce = client.post("/v1/credential-nonces").json()["c_nonce"]
    proof = make_key_proof(key, aud=gw.settings.issuer, nonce=nonce, iat=int(time.time()))  # type: ignore[arg-type]
    return {"credential_configuration_id": "sx-credit-code", "proofs": {"jwt": [proof]}}


def test_the_page_session_obtains_a_credential_only_with_its_csrf_token(gw: Gateway, client: TestClient) -> None:
    idn, _, _ = enrol(gw, 651, "陈一")
    resident_sign_in(client, idn, "陈一")
    csrf = _page_csrf(client)
    key = generate_signing_key("ES256")
    # The cookie alone is what a forged cross-site request carries: refused, and the nonce is not spent.
    forged = client.post("/v1/credentials", json=_credential_request(gw, client, key))
    assert forged.status_code == 403 and forged.json()["code"] == "csrf_rejected"
    issued = client.post("/v1/credentials", json=_credential_request(gw, client, key), headers={"X-CSRF-Token": csrf})
    assert issued.status_code == 200, issued.text
    credential = issued.json()["credentials"][0]["credential"]
    # The page's QR endpoint: a presentation becomes the compact offline code, drawn as SVG.
    vp = present(credential, key, ["level_at_least.good"], aud="incentive_provider", nonce="n1")
    drawn = client.post("/me/credit-code/qr", json={"presentation": vp}, headers={"X-CSRF-Token": csrf})
    assert drawn.status_code == 200 and drawn.headers["cache-control"] == "no-store"
    body = drawn.json()
    assert body["svg"].startswith("<svg") and body["mode"] == "alphanumeric" and body["error"] in ("L", "M")
    assert client.post("/me/credit-code/qr", json={"presentation": vp}).status_code == 403
    for junk in ("hello", credential, "a~b~c"):  # not a presentation with its KB-JWT
        refused = client.post("/me/credit-code/qr", json={"presentation": junk}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 422


def test_without_a_session_or_token_the_credential_endpoint_asks_for_one(gw: Gateway, client: TestClient) -> None:
    key = generate_signing_key("ES256")
    resp = client.post("/v1/credentials", json=_credential_request(gw, client, key))
    assert resp.status_code == 401


def _request(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    headers = {"Authorization": f"Bearer {access_token(client, SCENIC)}"}
    created = client.post("/v1/presentation-requests", json={"purpose": "tourism", "claims": ["tier"]}, headers=headers)
    assert created.status_code == 201
    return created.json(), headers


def test_a_holder_declines_and_the_verifier_hears_it_once(client: TestClient) -> None:
    req, headers = _request(client)
    response_path = "/v1/presentation-requests/" + req["request_id"] + "/response"
    for bad in ({}, {"error": "access_denied", "vp_token": "x~y"}, {"error": "server_error"}):
        assert client.post(response_path, json=bad).status_code == 422
    declined = client.post(response_path, json={"error": "access_denied"})
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    polled = client.get("/v1/presentation-requests/" + req["request_id"], headers=headers).json()
    assert polled["state"] == "declined" and polled["result"] == {"error": "access_denied"}
    assert client.post(response_path, json={"error": "access_denied"}).status_code == 409
    assert client.get("/v1/presentation-requests/" + req["request_id"] + "/request").status_code == 409
