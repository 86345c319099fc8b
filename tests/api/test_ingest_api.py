"""The ingestion endpoint over HTTP: problems, limits, authentication."""

from __future__ import annotations

import json
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.services.context import Gateway
from gateway.store.tables import information_records, people
from tests.support import make_id, record
from tests.support.partners import access_token

URL = "/v1/ingest/records"


def _auth(key: str, ctype: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": ctype}


def _rows(gw: Gateway) -> int:
    with gw.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(information_records)).scalar_one())


def test_ndjson_batch_is_accepted(client: TestClient, keys: dict[str, str], gw: Gateway) -> None:
    lines = [json.dumps(record("volunteer_service", {"hours": h}, ref=f"v{h}"), ensure_ascii=False) for h in (1, 2)]
    body = ("\n".join(lines) + "\n{broken\n").encode()
    resp = client.post(URL, content=body, headers=_auth(keys["sx-volunteer-federation"], "application/x-ndjson"))
    assert resp.status_code == 200
    data = resp.json()
    assert (data["accepted"], data["rejected"]) == (2, 1)
    assert data["rejections"] == [{"index": 2, "code": "malformed_json", "reason": "The line is not valid JSON."}]
    assert _rows(gw) == 2


def test_malformed_json_is_a_400_problem(client: TestClient, keys: dict[str, str]) -> None:
    resp = client.post(URL, content=b'[{"source_ref": ', headers=_auth(keys["sx-transport"]))
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["code"] == "malformed_body"
    assert problem["type"].endswith("/problems/malformed_body")
    assert problem["status"] == 400 and problem["title"]


def test_oversized_batch_is_413_and_writes_nothing(gw: Gateway, keys: dict[str, str]) -> None:
    small = replace(gw, settings=replace(gw.settings, max_batch_records=3))
    with TestClient(create_app(small)) as client:
        batch = [record("donation", {"amount_yuan": 1}, ref=f"d{i}", id_number=make_id(seq=i)) for i in range(4)]
        resp = client.post(URL, json=batch, headers=_auth(keys["sx-charity-federation"]))
        assert resp.status_code == 413
        assert resp.json()["code"] == "payload_too_large"
        ok = client.post(URL, json=batch[:3], headers=_auth(keys["sx-charity-federation"]))
        assert ok.status_code == 200
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(people)).scalar_one() == 3


def test_body_over_the_byte_limit_is_413(gw: Gateway, keys: dict[str, str]) -> None:
    small = replace(gw, settings=replace(gw.settings, max_body_bytes=2048))
    with TestClient(create_app(small)) as client:
        batch = [record("donation", {"amount_yuan": 1}, ref=f"d{i}") for i in range(40)]
        resp = client.post(URL, json=batch, headers=_auth(keys["sx-charity-federation"]))
    assert resp.status_code == 413
    assert _rows(gw) == 0


def test_missing_or_bad_credentials_are_401(client: TestClient) -> None:
    resp = client.post(URL, json=[])
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json()["code"] == "unauthenticated"
    resp = client.post(URL, json=[], headers=_auth("gwk.0000.nope"))
    assert resp.status_code == 401


def test_only_collaborating_units_push_records(client: TestClient, keys: dict[str, str]) -> None:
    # An officer's API key is no partner access token at all.
    assert client.post(URL, json=[], headers=_auth(keys["officer"])).status_code == 401
    # A bank's access token is valid, but a bank is not a collaborating unit.
    resp = client.post(URL, json=[], headers=_auth(access_token(client, "sx-example-bank")))
    assert resp.status_code == 403
    assert resp.json()["code"] == "forbidden"


def test_unsupported_media_type_is_415(client: TestClient, keys: dict[str, str]) -> None:
    resp = client.post(URL, content=b"a,b", headers=_auth(keys["sx-transport"], "text/csv"))
    assert resp.status_code == 415
    assert resp.json()["code"] == "unsupported_media_type"


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    resp = client.get("/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
