"""Metrics, request ids and log lines (issue 13, observability)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.services.context import Gateway
from gateway.services.operations.logs import REQUEST_ID, JsonFormatter, scrub
from tests.support import make_id
from tests.support.partners import access_token

TOKEN = "m" * 40


def test_metrics_are_closed_by_default(client: TestClient) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_metrics_need_the_configured_bearer_token(gw: Gateway) -> None:
    object.__setattr__(gw, "settings", replace(gw.settings, metrics_token=TOKEN))
    with TestClient(create_app(gw), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
        client.get("/healthz")
        client.post("/v1/assertions", json={})  # unauthenticated: counted as a refusal by code
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    text = resp.text
    assert 'gateway_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'gateway_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in text
    assert 'gateway_problems_total{code="unauthenticated",status="401"}' in text
    assert 'gateway_db_pool_connections{state="in_use"}' in text


def test_metrics_count_by_template_not_by_concrete_path(gw: Gateway) -> None:
    object.__setattr__(gw, "settings", replace(gw.settings, metrics_token=TOKEN))
    with TestClient(create_app(gw), raise_server_exceptions=False) as client:
        assert client.get("/status-lists/987654").status_code == 404
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "987654" not in text
    assert 'route="/status-lists/{list_id}",status="404"' in text


def test_ingestion_is_counted_by_unit(gw: Gateway) -> None:
    object.__setattr__(gw, "settings", replace(gw.settings, metrics_token=TOKEN))
    with TestClient(create_app(gw), raise_server_exceptions=False) as client:
        token = access_token(client, "sx-transport")
        line = {"unit": "sx-transport", "bad": True}
        client.post(
            "/v1/ingest/records",
            content=json.dumps(line) + "\n",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'gateway_ingested_records_total{outcome="rejected",unit="sx-transport"}' in text


def test_metrics_token_must_be_long() -> None:
    with pytest.raises(ConfigurationError, match="GATEWAY_METRICS_TOKEN"):
        Settings.from_env({"GATEWAY_METRICS_TOKEN": "short"})


def test_request_id_is_echoed_and_in_problem_documents(client: TestClient) -> None:
    resp = client.post("/v1/assertions", json={}, headers={"X-Request-ID": "abc-123.x"})
    assert resp.headers["x-request-id"] == "abc-123.x"
    assert resp.json()["request_id"] == "abc-123.x"
    fapi = client.get("/healthz", headers={"x-fapi-interaction-id": "c0ffee00-1111-4222-8333-444455556666"})
    assert fapi.headers["x-fapi-interaction-id"] == "c0ffee00-1111-4222-8333-444455556666"
    assert fapi.headers["x-request-id"] == "c0ffee00-1111-4222-8333-444455556666"


@pytest.mark.parametrize("offered", ["has space", "a" * 200, 'quote"d', "{json}", ""])
def test_malformed_request_ids_are_replaced(client: TestClient, offered: str) -> None:
    resp = client.post("/v1/assertions", json={}, headers={"X-Request-ID": offered})
    rid = resp.headers["x-request-id"]
    assert rid != offered and len(rid) == 36
    assert resp.json()["request_id"] == rid


def test_generated_request_ids_differ(client: TestClient) -> None:
    assert client.get("/healthz").headers["x-request-id"] != client.get("/healthz").headers["x-request-id"]


def test_json_log_line_carries_the_request_id_and_no_secret() -> None:
    formatter = JsonFormatter()
    token = REQUEST_ID.set("rid-42")
    try:
        id_number = make_id()
        record = logging.LogRecord(
            "gateway.x", logging.WARNING, __file__, 1, "lookup %s with %s", (id_number, "eyJhbGciOi.eyJzdWIi.sig"), None
        )
        line = formatter.format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "rid-42" and entry["level"] == "WARNING"
    assert id_number not in line and "eyJhbGciOi" not in line
    assert "\n" not in line


def test_scrub_blanks_pem_blocks() -> None:
    assert "MIGH" not in scrub("key -----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY----- done")
