"""Two ``gateway serve`` processes over one PostgreSQL (issue 12): nothing a request needs lives in
one process or on one disk.

Each process is real uvicorn on 127.0.0.1 with a data directory of its own; they share the
database (a schema of this test's own), and what an operator hands every host of a deployment:
the signing key files (``GATEWAY_SIGNING_KEYS_DIR``), the ID pepper and the resident identity
provider's key set (here the development IdP's key, configured as an external IdP would be). A
third process whose keys directory lacks the registered keys refuses to start: private keys are
configuration shared by deployment, not state the database can carry.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from bench.servers import Server, start_gateway
from gateway.clock import today_in_shaoxing
from gateway.config import PROJECT_ROOT, Settings
from gateway.exchange import make_client_assertion
from gateway.services.admin.credentials import create_api_key
from gateway.services.context import Gateway
from gateway.services.operations.refresh import REFRESH_SECONDS
from gateway.services.residents.dev_idp import DEV_IDP_AUDIENCE, DEV_IDP_ISSUER, DevIdentityProvider
from tests.conftest import database_url_for
from tests.support import basic_records, make_id, record
from tests.support.partners import CLIENT_ASSERTION_TYPE, partner_key

pytestmark = pytest.mark.slow

PARTNER, PURPOSE = "hangzhou-credit", "cross_city_recognition"
COURT = "sx-intermediate-court"
CROSSWALK = "sx-integrity-yrd-common"
PDF = b"%PDF-1.7\n% a receipt for the fine\n" + b"7" * 100
# A published crosswalk is in force everywhere REFRESH_SECONDS (plus one query) after it commits;
# the slack covers a loaded test machine scheduling the refresher's thread late, nothing more.
SLACK_S = 8.0


@dataclass
class Cluster:
    a: Server
    b: Server
    env: dict[str, str]
    issuer: str
    idp: DevIdentityProvider
    officer: str
    mapping_admin: str


def _env(tmp: Path, name: str, shared: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**env, **shared, "GATEWAY_DATA_DIR": str(tmp / name), "GATEWAY_LOG_LEVEL": "WARNING"}


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=PROJECT_ROOT,
        env={**env, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    url, cleanup = database_url_for("postgresql", tmp_path)
    idp = DevIdentityProvider(Settings(data_dir=tmp_path / "idp"))
    jwks_file = tmp_path / "idp-jwks.json"
    jwks_file.write_text(json.dumps(idp.jwks()), encoding="utf-8")
    shared = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_SIGNING_KEYS_DIR": str(tmp_path / "signing-keys"),
        "GATEWAY_ID_PEPPER": secrets.token_hex(32),
        "GATEWAY_RESIDENT_IDP_ISSUER": DEV_IDP_ISSUER,
        "GATEWAY_RESIDENT_IDP_JWKS": str(jwks_file),
        "GATEWAY_RESIDENT_IDP_AUDIENCE": DEV_IDP_AUDIENCE,
    }
    env_a, env_b = _env(tmp_path, "a", shared), _env(tmp_path, "b", shared)
    helper: Gateway | None = None
    servers: list[Server] = []
    try:
        migrated = _cli(env_a, "migrate")  # as the README tells an operator: migrate, then serve
        assert migrated.returncode == 0, migrated.stderr
        servers.append(start_gateway(env_a, 1, tmp_path / "logs"))
        servers.append(start_gateway(env_b, 1, tmp_path / "logs"))
        # The test's own officer key and admin token, made in process over the same database and keys.
        monkeypatch.setenv("GATEWAY_ID_PEPPER", shared["GATEWAY_ID_PEPPER"])
        settings = Settings.from_env(_env(tmp_path, "helper", shared))
        helper = Gateway.build(settings, background_refresh=False)
        with helper.engine.begin() as conn:
            officer = create_api_key(conn, helper, "officer", "officer-scaleout")
        admin = helper.admins.issue("mapper", ["mapping_admin"])
        yield Cluster(servers[0], servers[1], env_a, settings.issuer, idp, officer, admin)
    finally:
        for server in servers:
            server.stop()
        if helper is not None:
            helper.close()
        cleanup()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post(server: Server, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {**kwargs.pop("headers", {}), **(_bearer(token) if token else {})}
    return httpx.post(server.base_url + path, headers=headers, timeout=30, trust_env=False, **kwargs)


def _get(server: Server, path: str, token: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(server.base_url + path, headers=_bearer(token), timeout=30, trust_env=False, **kwargs)


def _client_assertion(c: Cluster, partner_id: str) -> str:
    return make_client_assertion(partner_key(partner_id), client_id=partner_id, audience=c.issuer)


def _token_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def _access_token(c: Cluster, server: Server, partner_id: str) -> str:
    resp = _post(server, "/oauth/token", data=_token_form(_client_assertion(c, partner_id)))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def _enrol(c: Cluster, server: Server, idn: str, name: str, prefix: str) -> str:
    """Records for one resident through ``server``; their consent to the partner; their ID token."""
    batches = basic_records(idn, name, prefix)
    occurred = (today_in_shaoxing() - timedelta(days=10)).isoformat()
    attrs = {"severity": "grave", "decision_ref": "j-1", "category": "contract"}
    batches[COURT] = [record("pledge_breach", attrs, ref=f"{prefix}-b", id_number=idn, name=name, occurred_at=occurred)]
    for unit, batch in batches.items():
        resp = _post(server, "/v1/ingest/records", _access_token(c, server, unit), json=batch)
        assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text
    id_token = c.idp.issue_id_token(idn, name)
    consent = {"audience": PARTNER, "purposes": [PURPOSE], "valid_days": 7, "channel": "app"}
    resp = _post(server, "/v1/me/consents", id_token, json=consent)
    assert resp.status_code in (200, 201), resp.text
    return id_token


def _issue(server: Server, token: str, idn: str, name: str) -> dict[str, Any]:
    body = {"subject": {"id_number": idn, "name": name}, "purpose": PURPOSE}
    resp = _post(server, "/v1/assertions", token, json=body)
    assert resp.status_code == 201, resp.text
    claims: dict[str, Any] = jwt.decode(resp.json()["assertion"], options={"verify_signature": False})
    return claims


def test_two_gateway_processes_share_everything_a_request_needs(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    people = [(make_id(seq=601), "周一"), (make_id(seq=602), "吴二")]
    id_tokens = [_enrol(c, c.a, *people[0], "p1"), _enrol(c, c.b, *people[1], "p2")]

    # Assertions issued through both processes: distinct jtis and distinct status slots, and each
    # verifies with the JWKS the other process publishes (one key set, shared by deployment).
    tokens = {s.port: _access_token(c, s, PARTNER) for s in (c.a, c.b)}
    issued = [_issue(s, tokens[s.port], *people[i % 2]) for i in range(3) for s in (c.a, c.b)]
    assert len({claims["jti"] for claims in issued}) == len(issued) == 6
    slots = {(claims["status"]["status_list"]["uri"], claims["status"]["status_list"]["idx"]) for claims in issued}
    assert len(slots) == 6
    jwks = httpx.get(c.b.base_url + "/.well-known/jwks.json", timeout=30, trust_env=False).json()
    assert jwks == httpx.get(c.a.base_url + "/.well-known/jwks.json", timeout=30, trust_env=False).json()
    assert {claims["regional_tier"]["crosswalk"]["version"] for claims in issued} == {"1"}

    # A client assertion used at one process is refused by the other (the jti cache is a table).
    assertion = _client_assertion(c, PARTNER)
    assert _post(c.a, "/oauth/token", data=_token_form(assertion)).status_code == 200
    replayed = _post(c.b, "/oauth/token", data=_token_form(assertion))
    assert replayed.status_code == 401 and replayed.json()["code"] == "jti_replayed", replayed.text
    assert "access_token" not in replayed.text

    # A crosswalk published through A is served by B within the refresh bound.
    head = _get(c.a, f"/v1/admin/crosswalks/{CROSSWALK}", c.mapping_admin)
    assert head.status_code == 200, head.text
    document = json.loads((PROJECT_ROOT / "mappings" / "crosswalks" / f"{CROSSWALK}.json").read_text("utf-8"))
    document = {k: v for k, v in document.items() if k != "$schema"}
    draft = _post(
        c.a,
        f"/v1/admin/crosswalks/{CROSSWALK}/drafts",
        c.mapping_admin,
        json={"document": {**document, "basis": document["basis"] + " (re-published)"}, "reason": "scale-out test"},
        headers={"If-Match": head.headers["etag"]},
    )
    assert draft.status_code == 201, draft.text
    version = draft.json()["version"]
    published = _post(
        c.a,
        f"/v1/admin/crosswalks/{CROSSWALK}/publish",
        c.mapping_admin,
        json={"version": version, "reason": "scale-out test"},
        headers={"If-Match": draft.headers["etag"]},
    )
    assert published.status_code == 200, published.text
    committed = time.monotonic()
    seen = None
    while time.monotonic() - committed < REFRESH_SECONDS + SLACK_S:
        seen = _issue(c.b, tokens[c.b.port], *people[1])["regional_tier"]["crosswalk"]["version"]
        if seen == str(version):
            break
        time.sleep(0.2)
    assert seen == str(version), f"B still served version {seen} {time.monotonic() - committed:.1f} s after publishing"

    # An objection filed (with evidence) through A is read and decided through B.
    me = id_tokens[0]
    score = _get(c.a, "/v1/me/score", me).json()
    ref = next(e for e in score["breakdown"] if e["indicator"] == "breach_grave")["records"][0]["ref"]
    evidence = _post(c.a, "/v1/me/evidence", me, content=PDF, headers={"Content-Type": "application/pdf"})
    assert evidence.status_code == 201, evidence.text
    sha = evidence.json()["sha256"]
    assert sha == hashlib.sha256(PDF).hexdigest()
    filed = _post(c.a, "/v1/me/objections", me, json={"target": ref, "statement": "Paid.", "evidence": [sha]})
    assert filed.status_code == 201, filed.text
    oid = filed.json()["id"]

    served = _get(c.b, f"/v1/officer/evidence/{sha}", c.officer)
    assert served.status_code == 200 and served.content == PDF  # the file is not on A's disk only
    assert not any((tmp_path / name / "evidence").exists() for name in ("a", "b"))
    one = _get(c.b, f"/v1/officer/objections/{oid}", c.officer)
    assert one.status_code == 200 and one.headers["etag"] == '"r1"', one.text
    review = _post(
        c.b, f"/v1/officer/objections/{oid}/review", c.officer, json={"reason": "mine"}, headers={"If-Match": '"r1"'}
    )
    assert review.status_code == 200, review.text
    decision = {"outcome": "upheld", "answer": "Confirmed with the court.", "record_action": "correct"}
    decided = _post(
        c.b, f"/v1/officer/objections/{oid}/decision", c.officer, json=decision, headers={"If-Match": '"r2"'}
    )
    assert decided.status_code == 200, decided.text
    [mine] = _get(c.a, "/v1/me/objections", me).json()
    assert (mine["id"], mine["state"], mine["answer"]) == (oid, "upheld", "Confirmed with the court.")

    # A third process whose keys directory lacks the registered keys refuses to start (rather than
    # fail its first issuance): the private keys are shared by deployment, not by the database.
    env = {**c.env, "GATEWAY_DATA_DIR": str(tmp_path / "c"), "GATEWAY_SIGNING_KEYS_DIR": str(tmp_path / "own")}
    started = _cli(env, "serve", "--port", "1", timeout=120)
    assert started.returncode == 2  # a start-up configuration problem: exit 2, one line, no traceback
    assert "GATEWAY_SIGNING_KEYS_DIR" in started.stderr and "Traceback" not in started.stderr
    assert not list((tmp_path / "own").glob("*.pem"))  # it did not make itself a key of its own either
