from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.services.context import Gateway


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def unit_tokens(gw: Gateway, client: TestClient) -> dict[str, str]:
    """An access token per collaborating unit (private_key_jwt)."""
    from tests.support.partners import access_token

    return {p.id: access_token(client, p.id) for p in gw.partners.all() if p.kind == "collaborating_unit"}
