"""Defects 1–3 of issue 15: bodies bounded as they stream in, JSON bounded in depth, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway import jsonparse
from gateway.api.app import create_app
from gateway.api.body_limit import limit_for
from gateway.services.context import Gateway
from gateway.store.tables import information_records
from tests.support import record
from tests.support.partners import client_assertion, token_form

DEEP = 1500


def _problem(resp: object, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    assert resp.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = resp.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    return body


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"a" * n


def test_limits_come_from_configuration(gw: Gateway) -> None:
    s = gw.settings
    assert limit_for(s, "/oauth/token") == s.token_max_bytes
    assert limit_for(s, "/v1/ingest/records") == s.max_body_bytes
    assert limit_for(s, "/v1/assertions") == s.max_request_bytes
    assert limit_for(s, "/v1/admin/crosswalks/x/drafts") == s.admin_max_bytes
    assert limit_for(s, "/oauth/tokenx") == s.max_request_bytes  # a prefix is a path segment
    custom = replace(s, extra_body_limits=(("/v1/assertions", 2048),))
    assert limit_for(custom, "/v1/assertions") == 2048


def test_announced_oversized_token_request_is_413_before_reading(client: TestClient) -> None:
    resp = client.post(
        "/oauth/token",
        content=b"x" * 20_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _problem(resp, 413, "payload_too_large")


def test_streamed_body_without_length_is_cut_at_the_limit(client: TestClient) -> None:
    resp = client.post(
        "/oauth/token",
        content=_chunks(1 << 20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _problem(resp, 413, "payload_too_large")


def test_large_json_to_assertions_is_413_not_422(client: TestClient) -> None:
    resp = client.post(
        "/v1/assertions", content=b"[" + b"1," * (17 << 19) + b"1]", headers={"Content-Type": "application/json"}
    )
    _problem(resp, 413, "payload_too_large")


def test_bad_content_length_is_400(client: TestClient) -> None:
    resp = client.post(
        "/v1/assertions", content=b"{}", headers={"Content-Type": "application/json", "Content-Length": "x"}
    )
    assert resp.status_code == 400


def test_deep_json_bodies_are_400_everywhere(client: TestClient, keys: dict[str, str]) -> None:
    deep = b"[" * DEEP + b"]" * DEEP
    for path in ("/v1/assertions", "/v1/me/consents", "/v1/recognitions", "/v1/officer/score-lookups"):
        _problem(client.post(path, content=deep, headers={"Content-Type": "application/json"}), 400, "json_too_deep")
    ingest = {"Authorization": f"Bearer {keys['sx-transport']}", "Content-Type": "application/json"}
    _problem(client.post("/v1/ingest/records", content=deep, headers=ingest), 400, "json_too_deep")


def test_unparseable_json_is_400_malformed_body(client: TestClient) -> None:
    for body in (b'{"a": ', b'{"a": "\xff"}', b'{"a": 1, "a": 2}', b'{"a": NaN}'):
        _problem(
            client.post("/v1/assertions", content=body, headers={"Content-Type": "application/json"}),
            400,
            "malformed_body",
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_deep_client_assertion_is_a_problem_not_a_500(client: TestClient) -> None:
    deep = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    genuine = client_assertion("sx-transport").split(".")
    for forged in (f"{_b64(deep)}.{genuine[1]}.{genuine[2]}", f"{genuine[0]}.{_b64(deep)}.{genuine[2]}"):
        resp = client.post("/oauth/token", data=token_form(forged))
        assert resp.status_code in (400, 401), resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")


def test_deep_ndjson_line_rejects_that_line_only(client: TestClient, keys: dict[str, str], gw: Gateway) -> None:
    good = [json.dumps(record("volunteer_service", {"hours": h}, ref=f"v{h}"), ensure_ascii=False) for h in (1, 2)]
    body = "\n".join([good[0], "[" * DEEP + "]" * DEEP, good[1]]).encode()
    headers = {"Authorization": f"Bearer {keys['sx-volunteer-federation']}", "Content-Type": "application/x-ndjson"}
    resp = client.post("/v1/ingest/records", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert (data["accepted"], data["rejected"]) == (2, 1)
    assert data["rejections"] == [{"index": 1, "code": "json_too_deep", "reason": "The line nests too deeply."}]
    with gw.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(information_records)).scalar_one() == 2


def test_ingestion_limit_still_applies_through_the_middleware(gw: Gateway, keys: dict[str, str]) -> None:
    small = replace(gw, settings=replace(gw.settings, max_body_bytes=4096))
    with TestClient(create_app(small)) as c:
        headers = {"Authorization": f"Bearer {keys['sx-transport']}", "Content-Type": "application/x-ndjson"}
        _problem(c.post("/v1/ingest/records", content=_chunks(10_000, 1000), headers=headers), 413, "payload_too_large")


def test_parser_depth_check_matches_the_nesting() -> None:
    assert not jsonparse.depth_exceeds(b"[" * 32 + b"]" * 32, 32)
    assert jsonparse.depth_exceeds(b"[" * 33 + b"]" * 33, 32)
    assert not jsonparse.depth_exceeds(b'["' + b"[" * 100 + b'"]', 32)  # brackets inside a string
    assert not jsonparse.depth_exceeds(b'["\\"' + b"[" * 100 + b'"]', 32)  # after an escaped quote
    assert jsonparse.loads(b'{"a": [1, {"b": "\\u00e9"}]}') == {"a": [1, {"b": "é"}]}
