"""The gateway's signing keys: generated once in development, never in production, rotated with
pre-publication, and retired keys dropped only after what they signed has expired."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from gateway.clock import utcnow
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.exchange import generate_signing_key, write_signing_key
from gateway.services.context import Gateway
from gateway.services.exchange.keyring import Keyring
from gateway.store.tables import signing_keys


def test_development_generates_an_active_and_a_next_key_once(gw: Gateway, settings: Settings) -> None:
    rows = gw.keyring.rows()
    assert sorted(r.state for r in rows) == ["active", "next"]
    for r in rows:
        mode = stat.S_IMODE((settings.keys_dir / r.key_file).stat().st_mode)
        assert mode == 0o600
    Keyring(gw.settings, gw.engine).ensure()  # a second process starting
    assert {r.kid for r in gw.keyring.rows()} == {r.kid for r in rows}
    assert {k["kid"] for k in gw.keyring.jwks()["keys"]} == {r.kid for r in rows}


def test_production_never_generates(gw: Gateway, tmp_path: Path) -> None:
    keys_dir = tmp_path / "prod-keys"
    keys_dir.mkdir()
    prod = replace(gw.settings, mode="production", signing_keys_dir=keys_dir)
    with gw.engine.begin() as conn:
        conn.execute(signing_keys.delete())
    with pytest.raises(ConfigurationError):
        Keyring(prod, gw.engine).ensure()
    key = generate_signing_key("ES256")
    write_signing_key(key, keys_dir / "operator-supplied.pem")
    ring = Keyring(prod, gw.engine)
    ring.ensure()
    assert [(r.kid, r.state) for r in ring.rows()] == [(key.kid, "active")]
    assert ring.signing_key().kid == key.kid
    assert list(keys_dir.iterdir()) == [keys_dir / "operator-supplied.pem"]


def test_production_settings_refuse_missing_keys_and_idp() -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env({"GATEWAY_MODE": "production", "GATEWAY_ISSUER": "https://credit.example.gov"})


def test_retired_key_leaves_the_jwks_after_publish_until(gw: Gateway) -> None:
    first = gw.keyring.signing_key().kid
    gw.keyring.rotate()
    assert first in {k["kid"] for k in gw.keyring.jwks()["keys"]}
    with gw.engine.begin() as conn:
        conn.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == first)
            .values(publish_until=utcnow() - timedelta(seconds=1))
        )
    fresh = Keyring(gw.settings, gw.engine)
    assert first not in {k["kid"] for k in fresh.jwks()["keys"]}
    assert first not in fresh.verification_keys()


def test_next_key_never_verifies_anything(gw: Gateway) -> None:
    nxt = next(r for r in gw.keyring.rows() if r.state == "next")
    assert nxt.kid in {k["kid"] for k in gw.keyring.jwks()["keys"]}
    assert nxt.kid not in gw.keyring.verification_keys()
