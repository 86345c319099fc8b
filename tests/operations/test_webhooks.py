"""Signed webhooks through the outbox, delivered to a loopback HTTP receiver; delivery survives a
restart of the gateway and of the receiver; back-off, dead letter, re-send (issue 13)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.clock import utcnow
from gateway.config import PROJECT_ROOT, Settings
from gateway.services.context import Gateway
from gateway.services.operations import webhooks
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables_operations import webhook_deliveries, webhook_outbox
from tests.api.test_assertions import _consent, _enrol
from tests.support import make_id
from tests.support.partners import access_token

BANK = "sx-example-bank"


class Receiver:
    """A partner's webhook endpoint on 127.0.0.1: records bodies, answers ``status``."""

    def __init__(self, port: int = 0) -> None:
        received = self.received = []  # type: list[tuple[str, str]]
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                received.append((self.headers["Content-Type"], body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _settings_with_webhook(settings: Settings, tmp_path: Path, port: int) -> Settings:
    target = tmp_path / "partners"
    shutil.copytree(PROJECT_ROOT / "partners", target, dirs_exist_ok=True)
    doc = json.loads((target / f"{BANK}.json").read_text(encoding="utf-8"))
    doc["webhook"] = {"url": f"http://127.0.0.1:{port}/hooks/gateway"}
    (target / f"{BANK}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return replace(settings, partners_dir=target)


@pytest.fixture
def port() -> int:
    probe = Receiver()
    port = probe.port
    probe.stop()  # nothing listens there now: the partner is "down"
    return port


@pytest.fixture
def hooked(settings: Settings, tmp_path: Path, port: int) -> Iterator[Gateway]:
    gw = Gateway.build(_settings_with_webhook(settings, tmp_path, port), run_migrations=True)
    yield gw
    gw.close()


def _revoke_a_consent(gw: Gateway) -> str:
    with TestClient(create_app(gw)) as client:
        units = {p.id: access_token(client, p.id) for p in gw.partners.all() if p.kind == "collaborating_unit"}
        idn, name = make_id(seq=951), "周小橙"
        _enrol(client, units, idn, name)
        consent_id = _consent(client, gw, idn, name, BANK, ["loan_discount"], "tier")
        issued = client.post(
            "/v1/assertions",
            json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount", "disclosure": "tier"},
            headers={"Authorization": f"Bearer {access_token(client, BANK)}"},
        )
        assert issued.status_code == 201
        id_token = DevIdentityProvider(gw.settings).issue_id_token(idn, name)
        resp = client.delete(f"/v1/me/consents/{consent_id}", headers={"Authorization": f"Bearer {id_token}"})
        assert resp.status_code == 200, resp.text
    jti: str = issued.json()["jti"]
    return jti


def _states(gw: Gateway) -> list[tuple[str, str, int]]:
    with gw.engine.connect() as conn:
        rows = conn.execute(
            select(webhook_outbox.c.event_type, webhook_outbox.c.state, webhook_outbox.c.attempts).order_by(
                webhook_outbox.c.id
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_events_survive_restarts_of_both_sides_and_arrive_signed(
    hooked: Gateway, settings: Settings, tmp_path: Path, port: int
) -> None:
    jti = _revoke_a_consent(hooked)
    assert _states(hooked) == [("consent.revoked", "pending", 0), ("assertion.revoked", "pending", 0)]

    # The partner is down: one attempt each, logged, retried later with back-off.
    assert webhooks.deliver_due(hooked) == 0
    assert _states(hooked) == [("consent.revoked", "pending", 1), ("assertion.revoked", "pending", 1)]
    with hooked.engine.connect() as conn:
        assert {r.outcome for r in conn.execute(select(webhook_deliveries))} == {"network_error"}
        due = conn.execute(select(webhook_outbox.c.next_attempt_at)).scalars().all()
    assert all(d.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(seconds=20) for d in due)
    assert webhooks.deliver_due(hooked) == 0  # not due yet: no second attempt now

    # The gateway restarts (a new process over the same database), the partner comes back.
    hooked.close()
    again = Gateway.build(_settings_with_webhook(settings, tmp_path, port))
    receiver = Receiver(port)
    try:
        assert webhooks.deliver_due(again, now=utcnow() + timedelta(hours=1)) == 2
        assert [s for _, s, _ in _states(again)] == ["delivered", "delivered"]
        jwks = again.keyring.jwks()
    finally:
        receiver.stop()
        again.close()
    events = {}
    for content_type, token in receiver.received:
        assert content_type == "application/jwt"
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "gateway-event+jwt"
        key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
        claims = jwt.decode(token, key, algorithms=["ES256"], audience=BANK, issuer=settings.issuer)
        assert claims["jti"] and claims["iat"]
        events[claims["event"]["type"]] = claims["event"]["data"]
    assert events["assertion.revoked"]["jtis"] == [jti]
    assert events["consent.revoked"]["consent"] == events["assertion.revoked"]["consent"]


def test_dead_letter_after_the_bound_then_manual_resend(hooked: Gateway, port: int) -> None:
    _revoke_a_consent(hooked)
    receiver = Receiver(port)
    receiver.status = 500
    try:
        moment = utcnow()
        for _ in range(webhooks.MAX_ATTEMPTS):
            webhooks.deliver_due(hooked, now=moment)
            moment += timedelta(hours=7)  # past any back-off
        assert {s for _, s, _ in _states(hooked)} == {"dead"}
        assert webhooks.deliver_due(hooked, now=moment + timedelta(days=1)) == 0
        with TestClient(create_app(hooked)) as client:
            bank = access_token(client, BANK)
            log = client.get("/v1/webhooks/deliveries", headers={"Authorization": f"Bearer {bank}"}).json()
            assert len(log) == 2 and log[0]["state"] == "dead"
            assert [a["status_code"] for a in log[0]["log"]] == [500] * webhooks.MAX_ATTEMPTS
            admin = hooked.admins.issue("ops", ["partner_admin"])
            resent = client.post(
                f"/v1/admin/webhooks/events/{log[0]['event_id']}/resend", headers={"Authorization": f"Bearer {admin}"}
            )
            assert resent.status_code == 202
            # Another partner cannot see or re-send the bank's events.
            city = access_token(client, "hangzhou-credit")
            assert client.get("/v1/webhooks/deliveries", headers={"Authorization": f"Bearer {city}"}).json() == []
            other = client.post(
                f"/v1/webhooks/events/{log[1]['event_id']}/resend", headers={"Authorization": f"Bearer {city}"}
            )
            assert other.status_code == 404
        receiver.status = 204
        assert webhooks.deliver_due(hooked) == 1
    finally:
        receiver.stop()


def test_key_rotation_reaches_every_partner_with_a_webhook(hooked: Gateway, port: int) -> None:
    hooked.keyring.rotate()
    receiver = Receiver(port)
    try:
        webhooks.deliver_due(hooked)  # fans the broadcast out
        assert webhooks.deliver_due(hooked) == 1
    finally:
        receiver.stop()
    claims = jwt.decode(receiver.received[0][1], options={"verify_signature": False})
    assert claims["aud"] == BANK and claims["event"]["type"] == "signing_key.rotated"


def test_partners_without_a_webhook_get_nothing(gw: Gateway) -> None:
    _revoke_a_consent(gw)
    assert webhooks.deliver_due(gw) == 0
    assert {s for _, s, _ in _states(gw)} == {"no_endpoint"}


def test_expired_consents_are_announced_once(hooked: Gateway, port: int) -> None:
    from sqlalchemy import update

    from gateway.store.tables import consents

    with TestClient(create_app(hooked)) as client:
        units = {p.id: access_token(client, p.id) for p in hooked.partners.all() if p.kind == "collaborating_unit"}
        idn, name = make_id(seq=952), "吴小绿"
        _enrol(client, units, idn, name)
        consent_id = _consent(client, hooked, idn, name, BANK, ["loan_discount"], "tier")
    assert webhooks.enqueue_expired_consents(hooked) == 0  # still valid
    with hooked.engine.begin() as conn:
        conn.execute(update(consents).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert webhooks.enqueue_expired_consents(hooked) == 1
    assert webhooks.enqueue_expired_consents(hooked) == 0  # once, however many workers look
    receiver = Receiver(port)
    try:
        assert webhooks.deliver_due(hooked) == 1
    finally:
        receiver.stop()
    claims = jwt.decode(receiver.received[0][1], options={"verify_signature": False})
    assert claims["event"]["type"] == "consent.expired" and claims["event"]["data"]["consent"] == consent_id


def test_the_retention_run_purges_finished_events_and_keeps_pending_ones(hooked: Gateway, port: int) -> None:
    from sqlalchemy import func, update

    from gateway.services.residents.retention import run_retention

    _revoke_a_consent(hooked)  # two events for the bank
    receiver = Receiver(port)
    try:
        assert webhooks.deliver_due(hooked) == 2
    finally:
        receiver.stop()
    hooked.keyring.rotate()  # a third, still pending
    with hooked.engine.begin() as conn:  # the two delivered ones are old; the pending one too
        conn.execute(update(webhook_outbox).values(created_at=utcnow() - timedelta(days=91)))
    assert run_retention(hooked).webhook_events_deleted == 2
    assert _states(hooked) == [("signing_key.rotated", "pending", 0)]
    with hooked.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one() == 0
    assert run_retention(hooked).webhook_events_deleted == 0


def test_partner_files_may_subscribe_to_exactly_the_events_the_gateway_sends() -> None:
    schema = json.loads((PROJECT_ROOT / "schemas" / "partner.schema.json").read_text(encoding="utf-8"))
    enum = schema["properties"]["webhook"]["properties"]["events"]["items"]["enum"]
    assert sorted(enum) == sorted(webhooks.EVENT_TYPES)
