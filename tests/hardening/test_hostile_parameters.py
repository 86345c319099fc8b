"""Defects 4, 5, 7 and part of 13 of issue 15: numbers past 64 bits, booleans as integers, numeric
date-times, unknown members never echoed, database errors answered without a traceback."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from tests.support import make_id

HUGE = str(2**64 + 7)


def _admin(gw: Gateway, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {gw.admins.issue(role + '-1', [role])}"}


def _me(gw: Gateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {DevIdentityProvider(gw.settings).issue_id_token(make_id(seq=901), '张三')}"}


def _problem(resp: object, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    assert resp.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = resp.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    return body


def test_integers_past_64_bits_are_422(client: TestClient, gw: Gateway) -> None:
    auditor = _admin(gw, "auditor")
    _problem(client.get("/v1/admin/audit", params={"before_id": HUGE}, headers=auditor), 422, "validation_failed")
    officer = _admin(gw, "credit_officer")
    body = {"decision": "verified", "reason": "checked"}
    _problem(
        client.post(f"/v1/officer/self-reports/{HUGE}/decision", json=body, headers=officer), 422, "validation_failed"
    )
    # The largest BIGINT is still a valid request (nothing there: 404).
    ok = client.post(f"/v1/officer/self-reports/{2**63 - 1}/decision", json=body, headers=officer)
    assert ok.status_code == 404, ok.text


def test_numeric_date_times_are_refused(client: TestClient, gw: Gateway) -> None:
    auditor = _admin(gw, "auditor")
    _problem(client.get("/v1/admin/audit", params={"until": "1700000000"}, headers=auditor), 422, "validation_failed")
    ok = client.get("/v1/admin/audit", params={"until": "2026-01-01T00:00:00Z"}, headers=auditor)
    assert ok.status_code == 200


def test_a_boolean_is_not_a_number_of_days(client: TestClient, gw: Gateway) -> None:
    body = {"audience": "sx-example-bank", "purposes": ["loan_discount"], "channel": "app", "valid_days": True}
    problem = _problem(client.post("/v1/me/consents", json=body, headers=_me(gw)), 422, "validation_failed")
    assert problem["errors"][0]["location"] == "body.valid_days"  # type: ignore[index]


def test_unknown_members_are_reported_without_their_names(client: TestClient, gw: Gateway) -> None:
    secret_key = make_id(seq=424)
    body = {"id_number": make_id(seq=1), "purpose": "review", "case_reference": "C-1", secret_key: "王小明"}
    problem = _problem(
        client.post("/v1/officer/score-lookups", json=body, headers=_admin(gw, "credit_officer")),
        422,
        "validation_failed",
    )
    assert problem["errors"] == [{"location": "body", "message": "unexpected member"}]
    consent = {
        "audience": "sx-example-bank",
        "purposes": ["loan_discount"],
        "channel": "app",
        "subject": {secret_key: 1},
    }
    resp = client.post("/v1/me/consents", json=consent, headers=_me(gw))
    assert resp.status_code == 422
    assert secret_key not in resp.text and "王小明" not in resp.text


def test_validation_locations_name_schema_members_only(client: TestClient, gw: Gateway) -> None:
    # ``document`` is a free-form object: a key the caller chose never appears in a location.
    secret_key = make_id(seq=434)
    headers = _admin(gw, "mapping_admin")
    resp = client.post("/v1/admin/crosswalks/proposals", json={"local": {secret_key: "x"}, "extra": 1}, headers=headers)
    assert resp.status_code in (400, 422)
    assert secret_key not in resp.text


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_a_database_outage_is_a_503_with_retry_after_and_one_log_line(
    client: TestClient, gw: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    from gateway.store import outage

    monkeypatch.setattr(outage, "outage_log", outage.OutageLog())
    monkeypatch.setattr("gateway.api.problems.outage_log", outage.outage_log)

    dbapi_error = getattr(gw.engine.dialect.loaded_dbapi, error)

    def down(*_: object, **__: object) -> object:
        raise dbapi_error("could not connect: SELECT 330602")

    headers = _admin(gw, "auditor")
    gw.engine.dispose()  # no pooled connection survives: every checkout dials the (dead) server
    monkeypatch.setattr(gw.engine.dialect, "connect", down)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            resp = client.get("/v1/admin/audit", headers=headers)
            problem = _problem(resp, 503, "unavailable")
            assert resp.headers["Retry-After"].isdigit()
            assert "SELECT" not in resp.text and "330602" not in str(problem)
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and "database unavailable" in lines[0].getMessage()
    assert "330602" not in caplog.text and "Traceback" not in caplog.text
    assert client.get("/readyz").status_code == 503
    monkeypatch.undo()
    assert client.get("/readyz").status_code == 200  # back without a restart
