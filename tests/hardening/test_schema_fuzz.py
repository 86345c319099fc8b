"""An OpenAPI-driven fuzz run (schemathesis) against the app in process, with valid credentials
for each security scheme: any 5xx, or a status, media type or body the document does not
describe, fails the test. Bounded (a few examples per operation, derandomised) to stay quick."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api.app import create_app
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from tests.support import make_id
from tests.support.partners import access_token

pytestmark = pytest.mark.slow

ROLES = ["mapping_admin", "partner_admin", "auditor", "credit_officer"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def app(gw: Gateway) -> FastAPI:
    return create_app(gw)


@pytest.fixture
def credentials(gw: Gateway, app: FastAPI) -> dict[str, str]:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        unit = access_token(client, "sx-transport")
        bank = access_token(client, "sx-example-bank")
    return {
        "unit": unit,
        "partner": bank,
        "admin": gw.admins.issue("fuzz-admin", ROLES),
        "resident": DevIdentityProvider(gw.settings).issue_id_token(make_id(seq=77), "张三"),
    }


def _credential(case: Any, creds: dict[str, str]) -> str | None:
    security = case.operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}
    if "partnerAccessToken" in schemes:
        return creds["unit"] if case.operation.path.startswith("/v1/ingest") else creds["partner"]
    if "adminToken" in schemes:
        return creds["admin"]
    if "residentIdToken" in schemes:
        return creds["resident"]
    return None


def test_the_server_answers_as_documented(app: FastAPI, credentials: dict[str, str]) -> None:
    # schemathesis's pytest plugin does not load under this pytest; its operations and strategies
    # are driven by hypothesis directly, one bounded run per operation.
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            token = _credential(case, credentials)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
