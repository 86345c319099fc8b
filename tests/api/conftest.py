from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.services.admin.credentials import create_api_key
from gateway.services.context import Gateway
from tests.support.partners import access_token


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def keys(gw: Gateway, client: TestClient) -> dict[str, str]:
    """Bearer credentials: an access token per collaborating unit (private_key_jwt), and an
    officer's API key under "officer"."""
    units = [p.id for p in gw.partners.all() if p.kind == "collaborating_unit"]
    out = {u: access_token(client, u) for u in units}
    with gw.engine.begin() as conn:
        out["officer"] = create_api_key(conn, gw, "officer", "officer-007")
    return out


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
