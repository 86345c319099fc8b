"""The production sign-in path against a (mocked) external OpenID provider: discovery, the
authorization request, client authentication by secret and by private_key_jwt, the code exchange
with the PKCE verifier, and the ID token checks (issuer, audience, nonce, algorithm, roles)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from gateway.errors import PermissionDenied, SignInFailed
from gateway.exchange import generate_signing_key, jwks_document, sign
from gateway.services.context import Gateway
from gateway.services.web.dev_staff_idp import s256
from gateway.services.web.staff_oidc import StaffSignIn

ISSUER = "https://idp.example/realms/office"
CLIENT = "sx-console"


class FakeIdp:
    def __init__(self) -> None:
        self.key = generate_signing_key("ES256")
        self.challenge = ""
        self.nonce = ""
        self.claims: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: c
        self.token_requests: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                    "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                    "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
                },
            )
        if path.endswith("/certs"):
            return httpx.Response(200, json=jwks_document([self.key]))
        if path.endswith("/token"):
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.token_requests.append({"form": form, "authorization": request.headers.get("authorization")})
            if s256(form.get("code_verifier", "")) != self.challenge or form.get("code") != "the-code":
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": CLIENT,
                "sub": "u-123",
                "preferred_username": "zhang.officer",
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce,
                "groups": ["cn=credit-officers", "cn=staff"],
            }
            return httpx.Response(
                200,
                json={
                    "access_token": "a",
                    "token_type": "Bearer",
                    "id_token": sign(self.claims(claims), self.key, "JWT"),
                },
            )
        return httpx.Response(404)


def _service(gw: Gateway, idp: FakeIdp, **settings: Any) -> tuple[Gateway, StaffSignIn]:
    configured = replace(
        gw.settings,
        mode="production",
        issuer="https://score-gateway.test",
        staff_idp_issuer=ISSUER,
        staff_idp_client_id=CLIENT,
        staff_idp_roles_claim="groups",
        staff_idp_role_map=(("cn=credit-officers", "credit_officer"),),
        **({"staff_idp_client_secret": "client-secret-value"} | settings),
    )
    gw2 = replace(gw, settings=configured)
    return gw2, StaffSignIn(configured, transport=httpx.MockTransport(idp.handler))


def _begin(gw: Gateway, service: StaffSignIn, idp: FakeIdp) -> str:
    url = asyncio.run(service.begin(gw, "http://ignored-host", "/console/audit"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{ISSUER}/protocol/openid-connect/auth?")
    assert query["redirect_uri"] == "https://score-gateway.test/console/auth/callback"  # never the Host header
    assert query["client_id"] == CLIENT and query["code_challenge_method"] == "S256"
    idp.challenge, idp.nonce = query["code_challenge"], query["nonce"]
    return query["state"]


def test_code_flow_with_a_client_secret_maps_roles(gw: Gateway) -> None:
    idp = FakeIdp()
    gw2, service = _service(gw, idp)
    state = _begin(gw2, service, idp)
    identity, return_to = asyncio.run(service.complete(gw2, "http://ignored-host", state=state, code="the-code"))
    assert identity.subject == "u-123" and identity.roles == {"credit_officer"} and return_to == "/console/audit"
    auth = idp.token_requests[0]["authorization"]
    assert auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == f"{CLIENT}:client-secret-value"


def test_code_flow_with_private_key_jwt(gw: Gateway, tmp_path: Path) -> None:
    idp = FakeIdp()
    client_key = generate_signing_key("ES256")
    pem = tmp_path / "console-key.pem"
    pem.write_bytes(client_key.private_pem())
    gw2, service = _service(gw, idp, staff_idp_client_secret=None, staff_idp_private_key=pem)
    state = _begin(gw2, service, idp)
    identity, _ = asyncio.run(service.complete(gw2, "http://ignored-host", state=state, code="the-code"))
    assert identity.roles == {"credit_officer"}
    form = idp.token_requests[0]["form"]
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    claims = jwt.decode(
        form["client_assertion"],
        client_key.private_key.public_key(),
        algorithms=["ES256"],
        audience=f"{ISSUER}/protocol/openid-connect/token",
    )
    assert claims["iss"] == claims["sub"] == CLIENT


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda c: {**c, "nonce": "another"}, SignInFailed),
        (lambda c: {**c, "aud": "someone-else"}, SignInFailed),
        (lambda c: {**c, "iss": "https://evil.example"}, SignInFailed),
        (lambda c: {**c, "exp": int(time.time()) - 120}, SignInFailed),
        (lambda c: {**c, "groups": ["cn=staff"]}, PermissionDenied),
    ],
    ids=["nonce", "audience", "issuer", "expired", "no-role"],
)
def test_id_token_checks(
    gw: Gateway, tamper: Callable[[dict[str, Any]], dict[str, Any]], expected: type[Exception]
) -> None:
    idp = FakeIdp()
    idp.claims = tamper
    gw2, service = _service(gw, idp)
    state = _begin(gw2, service, idp)
    with pytest.raises(expected):
        asyncio.run(service.complete(gw2, "http://ignored-host", state=state, code="the-code"))


def test_an_hmac_signed_id_token_is_refused(gw: Gateway) -> None:
    idp = FakeIdp()
    gw2, service = _service(gw, idp)
    state = _begin(gw2, service, idp)
    original = idp.handler

    def hs256(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.url.path.endswith("/token") and response.status_code == 200:
            claims = jwt.decode(json.loads(response.content)["id_token"], options={"verify_signature": False})
            forged = jwt.encode(claims, "client-secret-value" * 4, algorithm="HS256", headers={"typ": "JWT"})
            return httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "id_token": forged})
        return response

    service = StaffSignIn(gw2.settings, transport=httpx.MockTransport(hs256))
    with pytest.raises(SignInFailed):
        asyncio.run(service.complete(gw2, "http://ignored-host", state=state, code="the-code"))
