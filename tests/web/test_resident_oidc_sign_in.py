"""Residents' page sign-in at a (mocked) real-name IdP: the staff flow's authorization code + PKCE,
then the ID token checked exactly as the API checks residents' ID tokens, plus the nonce; the page
session keeps keyed hashes only, and the ID number is never in a URL or a log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.exchange import generate_signing_key, jwks_document, sign
from gateway.services.context import Gateway
from gateway.services.residents.resident_identity import ResidentAuthenticator
from gateway.services.web.dev_staff_idp import s256
from gateway.services.web.resident_oidc import ResidentSignIn
from gateway.store.tables_web import web_sessions
from gateway.web.sessions import KIOSK_COOKIE
from tests.support import make_id

ISSUER = "https://realname.example/oidc"
CLIENT = "sx-resident-pages"
GATEWAY = "https://score-gateway.test"
IDN = make_id(seq=772)
NAME = "欧阳娜娜"


class FakeIdp:
    def __init__(self) -> None:
        self.key = generate_signing_key("ES256")
        self.challenge = ""
        self.nonce = ""
        self.claims: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: c

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if path.endswith("/token"):
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            if s256(form.get("code_verifier", "")) != self.challenge or form.get("code") != "the-code":
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": CLIENT,
                "sub": "pairwise-9",
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce,
                "cert_no": IDN,
                "real_name": NAME,
            }
            token = sign(self.claims(claims), self.key, "JWT")
            return httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "id_token": token})
        return httpx.Response(404)


@pytest.fixture
def idp() -> FakeIdp:
    return FakeIdp()


def _configured(gw: Gateway, idp: FakeIdp, tmp_path: Path, **changes: Any) -> Gateway:
    jwks = tmp_path / "realname-jwks.json"
    jwks.write_text(json.dumps(jwks_document([idp.key])))
    settings = replace(
        gw.settings,
        issuer=GATEWAY,
        resident_idp_issuer=ISSUER,
        resident_idp_jwks=str(jwks),
        resident_idp_audience=CLIENT,
        resident_idp_id_claim="cert_no",
        resident_idp_name_claim="real_name",
        **({"resident_idp_client_id": CLIENT, "resident_idp_client_secret": "resident-client-secret"} | changes),
    )
    assert not settings.dev_idp_enabled  # the development form is off: this is production's path
    return replace(gw, settings=settings, residents=ResidentAuthenticator(settings, gw.hasher))


@pytest.fixture
def client_for(gw: Gateway, idp: FakeIdp, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        gw2 = _configured(gw, idp, tmp_path, **changes)
        app = create_app(gw2)
        app.state.resident_sign_in = ResidentSignIn(gw2.settings, transport=httpx.MockTransport(idp.handler))
        client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _start(client: TestClient, idp: FakeIdp, next_path: str = "/me/consents") -> str:
    response = client.get("/me/sign-in/start", params={"next": next_path}, follow_redirects=False)
    assert response.status_code == 303
    url = response.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["redirect_uri"] == f"{GATEWAY}/me/auth/callback"
    assert query["client_id"] == CLIENT and query["code_challenge_method"] == "S256"
    assert next_path not in url  # where the resident is going stays on the server
    idp.challenge, idp.nonce = query["code_challenge"], query["nonce"]
    return query["state"]


def _callback(client: TestClient, state: str) -> httpx.Response:
    return client.get("/me/auth/callback", params={"state": state, "code": "the-code"}, follow_redirects=False)


def test_sign_in_lands_on_me_with_a_session_of_keyed_hashes(
    gw: Gateway, client_for: Callable[..., TestClient], idp: FakeIdp, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for()
    page = client.get("/me/sign-in?next=/me/consents")
    assert page.status_code == 200 and 'id="idp-sign-in"' in page.text and 'name="id_number"' not in page.text
    caplog.set_level(logging.DEBUG)
    state = _start(client, idp)
    response = _callback(client, state)
    assert response.status_code == 303 and response.headers["location"] == "/me/consents"
    assert client.get("/me").status_code == 200
    with gw.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(web_sessions))]
    assert len(rows) == 1 and rows[0]["kind"] == "resident"
    assert rows[0]["subject"] == gw.hasher.id_hash(IDN)
    assert IDN not in json.dumps(rows, default=str) and NAME not in json.dumps(rows, default=str)
    assert IDN not in str(response.url) and IDN not in response.headers["location"]
    assert IDN not in caplog.text and NAME not in caplog.text
    # The state is used once: a replayed callback is refused.
    again = _callback(client, state)
    assert again.status_code == 401


def test_next_outside_me_is_not_followed(client_for: Callable[..., TestClient], idp: FakeIdp) -> None:
    client = client_for()
    state = _start(client, idp, next_path="https://evil.example/x")
    assert _callback(client, state).headers["location"] == "/me"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: {**c, "nonce": "another"},
        lambda c: {**c, "aud": "someone-else"},
        lambda c: {k: v for k, v in c.items() if k != "cert_no"},
        lambda c: {**c, "cert_no": IDN[:-1] + ("0" if IDN[-1] != "0" else "1")},
        lambda c: {**c, "iss": "https://evil.example"},
    ],
    ids=["nonce", "audience", "missing-id-claim", "bad-id-checksum", "issuer"],
)
def test_refused_id_tokens_open_no_session(
    gw: Gateway,
    client_for: Callable[..., TestClient],
    idp: FakeIdp,
    tamper: Callable[[dict[str, Any]], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = client_for()
    idp.claims = tamper
    caplog.set_level(logging.DEBUG)
    state = _start(client, idp)
    response = _callback(client, state)
    assert response.status_code == 401 and "sign_in_failed" in response.text
    assert IDN[:-1] not in response.text and IDN[:-1] not in caplog.text
    with gw.engine.connect() as conn:
        assert conn.execute(select(web_sessions)).first() is None


def test_a_state_from_staff_sign_in_is_not_a_resident_state(
    client_for: Callable[..., TestClient], idp: FakeIdp
) -> None:
    client = client_for()
    assert _callback(client, "no-such-state").status_code == 401


def test_without_client_settings_sign_in_says_it_is_not_configured(
    client_for: Callable[..., TestClient],
) -> None:
    client = client_for(resident_idp_client_id=None)
    page = client.get("/me/sign-in")
    assert page.status_code == 503 and 'id="idp-not-configured"' in page.text
    start = client.get("/me/sign-in/start", follow_redirects=False)
    assert start.status_code == 503 and "resident_sign_in_not_configured" in start.text
    assert client.get("/me/auth/callback?state=s&code=c").status_code == 503


def test_the_kiosk_link_starts_kiosk_mode(client_for: Callable[..., TestClient], idp: FakeIdp) -> None:
    client = client_for()
    start = client.get("/me/sign-in/start?kiosk=1", follow_redirects=False)
    assert start.status_code == 303 and f"{KIOSK_COOKIE}=1" in start.headers["set-cookie"]
    plain = client.get("/me/sign-in/start", follow_redirects=False)
    assert f"{KIOSK_COOKIE}=1" not in plain.headers.get("set-cookie", "")
