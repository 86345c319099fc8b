"""Staff sign-in over the authorization code flow with PKCE, sessions in the database, CSRF, the
admin API with the session cookie, and the development staff IdP's refusals."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.api.app import create_app
from gateway.clock import utcnow
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.services.context import Gateway
from gateway.services.web.dev_staff_idp import DevStaffIdentityProvider, s256
from gateway.services.web.staff_oidc import map_roles
from gateway.store.tables import audit_log
from gateway.store.tables_web import web_login_states, web_sessions

BASE = "http://127.0.0.1"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _authorize(client: TestClient, next_path: str = "/console") -> tuple[str, dict[str, str]]:
    start = client.get("/console/sign-in/start", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 303
    page = client.get(start.headers["location"])
    assert page.status_code == 200
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', page.text)}
    return start.headers["location"], fields


def sign_in(client: TestClient, name: str, roles: list[str], next_path: str = "/console") -> Any:
    _, fields = _authorize(client, next_path)
    code = client.post(
        "/dev-idp/staff/authorize", data={**fields, "name": name, "roles": roles}, follow_redirects=False
    )
    assert code.status_code == 303
    return client.get(code.headers["location"], follow_redirects=False)


def csrf_of(client: TestClient, path: str = "/console") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def test_sign_in_runs_the_code_flow_with_pkce_and_sets_a_strict_cookie(client: TestClient, gw: Gateway) -> None:
    location, fields = _authorize(client)
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"] and "nonce" in query and "state" in query
    with gw.engine.connect() as conn:
        stored = conn.execute(select(web_login_states)).one()
    assert stored.state_hash != query["state"][0]  # stored digested, never as sent
    assert s256(stored.code_verifier) == query["code_challenge"][0]
    code = client.post(
        "/dev-idp/staff/authorize", data={**fields, "name": "li", "roles": ["mapping_admin"]}, follow_redirects=False
    )
    done = client.get(code.headers["location"], follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/console"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback in development only
    page = client.get("/console")
    assert page.status_code == 200 and "li" in page.text
    with gw.engine.connect() as conn:
        row = conn.execute(select(web_sessions)).one()
        actions = [r.action for r in conn.execute(select(audit_log.c.action).where(audit_log.c.actor_id == "li"))]
    assert row.roles == ["mapping_admin"] and client.cookies["sx_console"] != row.token_hash
    assert "staff.sign_in" in actions


def test_the_cookie_is_secure_off_loopback(gw: Gateway) -> None:
    with TestClient(create_app(gw), base_url="http://gateway.internal", raise_server_exceptions=False) as c:
        done = sign_in(c, "li", ["auditor"])
    assert "Secure" in done.headers["set-cookie"]


def test_a_state_is_used_once_and_a_code_replayed_elsewhere_fails(client: TestClient) -> None:
    _, fields = _authorize(client)
    code = client.post(
        "/dev-idp/staff/authorize", data={**fields, "name": "li", "roles": ["auditor"]}, follow_redirects=False
    )
    callback = code.headers["location"]
    assert client.get(callback, follow_redirects=False).status_code == 303
    again = client.get(callback, follow_redirects=False)
    assert again.status_code == 401 and "sign_in_failed" in again.text


def test_a_wrong_pkce_verifier_or_client_secret_is_refused_by_the_provider(gw: Gateway) -> None:
    dev = DevStaffIdentityProvider(gw.settings)
    verifier = "v" * 50
    code = dev.authorization_code(
        name="li",
        roles=["auditor"],
        client_id="sx-score-console-dev",
        redirect_uri=f"{BASE}/console/auth/callback",
        nonce="n",
        code_challenge=s256(verifier),
        code_challenge_method="S256",
    )
    args = {"code": code, "client_id": "sx-score-console-dev", "redirect_uri": f"{BASE}/console/auth/callback"}
    assert "id_token" in dev.token(**args, client_secret=dev.client_secret(), code_verifier=verifier)
    for bad in (
        {"code_verifier": "w" * 50, "client_secret": dev.client_secret()},
        {"code_verifier": verifier, "client_secret": "x"},
    ):
        with pytest.raises(Exception, match="not"):
            dev.token(**args, **bad)


def test_a_person_without_a_gateway_role_is_refused(client: TestClient) -> None:
    done = sign_in(client, "nobody", [])
    assert done.status_code == 403
    assert "sx_console" not in client.cookies


def test_return_to_stays_inside_the_console(client: TestClient) -> None:
    done = sign_in(client, "li", ["auditor"], next_path="//evil.example/x")
    assert done.headers["location"] == "/console"


def test_sign_out_needs_csrf_and_ends_the_session_for_every_process(client: TestClient, gw: Gateway) -> None:
    sign_in(client, "li", ["auditor"])
    token = client.cookies["sx_console"]
    assert client.post("/console/sign-out", data={"csrf_token": "wrong"}).status_code == 403
    # A second application over the same database (another process) sees the same session...
    with TestClient(create_app(gw), base_url=BASE, raise_server_exceptions=False) as other:
        other.cookies.set("sx_console", token)
        assert other.get("/console/audit").status_code == 200
        done = client.post("/console/sign-out", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
        assert done.status_code == 303
        # ...and its end at once.
        assert other.get("/console/audit", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_idle_and_absolute_timeouts_end_the_session(client: TestClient, gw: Gateway) -> None:
    sign_in(client, "li", ["auditor"])
    assert client.get("/console", follow_redirects=False).status_code == 200
    with gw.engine.begin() as conn:
        conn.execute(
            update(web_sessions).values(last_seen_at=utcnow() - timedelta(seconds=gw.settings.session_idle_seconds + 1))
        )
    assert client.get("/console", follow_redirects=False).status_code == 303
    sign_in(client, "li", ["auditor"])
    with gw.engine.begin() as conn:
        conn.execute(update(web_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/console", follow_redirects=False).status_code == 303
    with gw.engine.connect() as conn:
        assert conn.execute(select(web_sessions)).first() is None
        actions = {r.action for r in conn.execute(select(audit_log.c.action))}
    assert "staff.session_expired" in actions


def test_the_admin_api_accepts_the_session_with_csrf_for_changes(client: TestClient) -> None:
    sign_in(client, "li", ["mapping_admin"])
    assert client.get("/v1/admin/crosswalks").status_code == 200
    doc = client.get("/v1/admin/crosswalks/sx-integrity-yrd-common").json()["document"]
    body = {"document": doc}
    assert client.post("/v1/admin/crosswalks/validate", json=body).status_code == 403  # no CSRF header
    ok = client.post("/v1/admin/crosswalks/validate", json=body, headers={"X-CSRF-Token": csrf_of(client)})
    assert ok.status_code == 200
    assert client.get("/v1/admin/audit").status_code == 403  # the session's roles hold: not an auditor


def test_pages_check_roles_and_hide_what_a_role_may_not_use(client: TestClient) -> None:
    sign_in(client, "officer", ["credit_officer"])
    home = client.get("/console").text
    assert "/console/objections" in home and "/console/audit" not in home and "/console/crosswalks" not in home
    for path in ("/console/audit", "/console/crosswalks", "/console/partners"):
        forced = client.get(path)
        assert forced.status_code == 403 and "text/html" in forced.headers["content-type"]


def test_production_refuses_the_development_staff_idp(settings: Settings) -> None:
    prod = replace(settings, mode="production")
    with pytest.raises(ConfigurationError):
        DevStaffIdentityProvider(prod)
    assert not prod.dev_staff_idp_enabled


def test_production_without_a_staff_idp_answers_503_and_no_dev_idp(gw: Gateway) -> None:
    gw_prod = replace(gw, settings=replace(gw.settings, mode="production"))
    with TestClient(create_app(gw_prod), base_url=BASE, raise_server_exceptions=False) as c:
        assert c.get("/console/sign-in/start", follow_redirects=False).status_code == 503
        assert c.get("/dev-idp/staff/authorize").status_code == 404
        assert c.post("/dev-idp/staff/token", data={"grant_type": "authorization_code"}).status_code == 404


def test_role_claim_mapping(settings: Settings) -> None:
    assert map_roles(settings, ["auditor", "root"]) == {"auditor"}
    assert map_roles(settings, "auditor mapping_admin") == {"auditor", "mapping_admin"}
    mapped = replace(settings, staff_idp_role_map=(("cn=credit-office", "credit_officer"), ("cn=audit", "auditor")))
    assert map_roles(mapped, ["cn=credit-office", "auditor"]) == {"credit_officer"}
    assert map_roles(settings, None) == frozenset()


def test_staff_idp_settings_are_checked() -> None:
    base = {"GATEWAY_STAFF_IDP_ISSUER": "https://idp.example/realms/office"}
    with pytest.raises(ConfigurationError):
        Settings.from_env(base)  # no client id
    with pytest.raises(ConfigurationError):
        Settings.from_env({**base, "GATEWAY_STAFF_IDP_CLIENT_ID": "console"})  # no secret nor key
    with pytest.raises(ConfigurationError):
        Settings.from_env({"GATEWAY_STAFF_IDP_ROLE_MAP": "group=superuser"})
    s = Settings.from_env(
        {**base, "GATEWAY_STAFF_IDP_CLIENT_ID": "console", "GATEWAY_STAFF_IDP_CLIENT_SECRET": "s3cret-value"}
    )
    assert s.staff_idp_issuer == base["GATEWAY_STAFF_IDP_ISSUER"] and not s.dev_staff_idp_enabled
    assert "s3cret-value" not in repr(s)


def test_the_development_code_is_opaque_in_the_callback_url(client: TestClient) -> None:
    _, fields = _authorize(client)
    name = "zhang.distinctive-name"
    code = client.post(
        "/dev-idp/staff/authorize", data={**fields, "name": name, "roles": ["auditor"]}, follow_redirects=False
    )
    location = code.headers["location"]
    code_value = parse_qs(urlsplit(location).query)["code"][0]
    assert name not in location and "auditor" not in location and "." not in code_value
    tampered = code_value[:-4] + ("AAAA" if not code_value.endswith("AAAA") else "BBBB")
    state = parse_qs(urlsplit(location).query)["state"][0]
    refused = client.get("/console/auth/callback", params={"code": tampered, "state": state}, follow_redirects=False)
    assert refused.status_code == 401 and "sign_in_failed" in refused.text


def test_a_sign_in_removes_sessions_past_their_absolute_timeout(client: TestClient, gw: Gateway) -> None:
    sign_in(client, "first", ["auditor"])
    with gw.engine.begin() as conn:
        conn.execute(update(web_sessions).values(expires_at=utcnow() - timedelta(minutes=1)))
    with TestClient(create_app(gw), base_url=BASE, raise_server_exceptions=False) as other:
        sign_in(other, "second", ["auditor"])
    with gw.engine.connect() as conn:
        assert [r.subject for r in conn.execute(select(web_sessions))] == ["second"]
