"""Rate limits from the partner file, shared across processes, in the database or Redis (issue 13)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.config import PROJECT_ROOT, Settings
from gateway.errors import ConfigurationError
from gateway.partners import load_partner_documents
from gateway.services.context import Gateway
from tests.support import make_id
from tests.support.partners import access_token

BANK = "sx-example-bank"
REDIS_URL = "redis://127.0.0.1:6379/15"


def _partners_with_limits(tmp_path: Path, limits: dict[str, object]) -> Path:
    target = tmp_path / "partners"
    shutil.copytree(PROJECT_ROOT / "partners", target)
    doc = json.loads((target / f"{BANK}.json").read_text(encoding="utf-8"))
    doc["rate_limits"] = limits
    (target / f"{BANK}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return target


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "redis"])
def limited(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Gateway]:
    redis_url = None
    if request.param == "redis":
        if not _redis_available():
            pytest.skip("no Redis on 127.0.0.1:6379")
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"gateway:ratelimit:{BANK}:*"):
            client.delete(key)
        redis_url = REDIS_URL
    partners = _partners_with_limits(
        tmp_path,
        {
            "default": {"limit": 100, "window_seconds": 60},
            "endpoints": {"/v1/assertions": {"limit": 3, "window_seconds": 60}},
        },
    )
    gw = Gateway.build(replace(settings, partners_dir=partners, redis_url=redis_url), run_migrations=True)
    yield gw
    gw.close()


def _ask(client: TestClient, token: str) -> object:
    body = {
        "subject": {"id_number": make_id(seq=801), "name": "赵小黄"},
        "purpose": "loan_discount",
        "disclosure": "tier",
    }
    return client.post("/v1/assertions", json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_limit_is_shared_by_two_processes_and_answers_429(limited: Gateway) -> None:
    # Two applications over one database (or Redis) stand for two gateway processes.
    with (
        TestClient(create_app(limited), raise_server_exceptions=False) as one,
        TestClient(create_app(limited), raise_server_exceptions=False) as two,
    ):
        token = access_token(one, BANK)
        answers = [_ask(one, token), _ask(two, token), _ask(one, token)]
        assert [a.status_code for a in answers] == [403, 403, 403]  # refused (no consent), but counted
        assert answers[0].headers["RateLimit-Policy"] == '"partner";q=3;w=60'
        assert answers[2].headers["RateLimit"].startswith('"partner";r=0;')
        refused = _ask(two, token)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["RateLimit"].startswith('"partner";r=0;')
        # Another endpoint has its own (default) budget.
        other = one.post("/v1/recognitions", json={"assertion": "x.y.z"}, headers={"Authorization": f"Bearer {token}"})
        assert other.status_code != 429 and other.headers["RateLimit-Policy"] == '"partner";q=100;w=60'


def test_partners_without_limits_get_no_headers(gw: Gateway) -> None:
    with TestClient(create_app(gw), raise_server_exceptions=False) as client:
        resp = _ask(client, access_token(client, BANK))
    assert resp.status_code == 403 and "RateLimit" not in resp.headers


def test_the_partner_schema_checks_the_limits(tmp_path: Path) -> None:
    bad = _partners_with_limits(tmp_path, {"default": {"limit": 0, "window_seconds": 60}})
    with pytest.raises(ConfigurationError, match=BANK):
        load_partner_documents(bad)


def test_redis_url_must_be_a_redis_url() -> None:
    with pytest.raises(ConfigurationError, match="GATEWAY_REDIS_URL"):
        Settings.from_env({"GATEWAY_REDIS_URL": "http://127.0.0.1:6379"})
