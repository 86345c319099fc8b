"""The gateway's own signing keys: generation, publication, rotation, retirement.

The life cycle is shared through the ``signing_keys`` table, so every process agrees on which key
signs: ``next`` (published in the JWKS, signs nothing yet) → ``active`` (signs) → ``retired``
(still published until every token it signed has expired). A process re-reads the table at most
every few seconds; private keys are parsed once per process and kid, never per request.

Development mode generates keys into the data directory (0600 PEM files). Production mode only
registers PEM files an operator placed in ``GATEWAY_SIGNING_KEYS_DIR`` and never generates one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from gateway.clock import as_utc, utcnow
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.exchange import (
    SigningKey,
    VerificationKey,
    generate_signing_key,
    parse_jwks,
    read_signing_key,
    write_signing_key,
)
from gateway.exchange.errors import KeyMaterialError
from gateway.services.operations.webhooks import enqueue_event
from gateway.store.engine import reader
from gateway.store.tables import disclosures, signing_keys

__all__ = ["KeyRow", "KeySnapshot", "Keyring"]

log = logging.getLogger(__name__)
_LOCK_KEY = 0x5358_4754_4B45_5953  # serialises key set-up and rotation across processes (PostgreSQL)


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    alg: str
    state: str
    key_file: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    publish_until: datetime | None
    public_jwk: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    active: KeyRow | None
    published: tuple[KeyRow, ...]
    loaded_at: float


def _rows(conn: Connection) -> list[KeyRow]:
    cols = (
        signing_keys.c.kid,
        signing_keys.c.alg,
        signing_keys.c.state,
        signing_keys.c.key_file,
        signing_keys.c.created_at,
        signing_keys.c.activated_at,
        signing_keys.c.retired_at,
        signing_keys.c.publish_until,
        signing_keys.c.public_jwk,
    )
    return [KeyRow(*r) for r in conn.execute(select(*cols).order_by(signing_keys.c.created_at))]


def _aware(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


class Keyring:
    def __init__(self, settings: Settings, engine: Engine, *, refresh_seconds: float = 5.0) -> None:
        self._settings = settings
        self._engine = engine
        self._refresh = refresh_seconds
        self._parsed: dict[str, SigningKey] = {}
        self._lock = threading.Lock()
        self._snapshot: KeySnapshot | None = None
        self._verification: tuple[KeySnapshot, Mapping[str, VerificationKey]] | None = None

    # --- set-up and rotation (CLI, start-up) -------------------------------------------------

    def _serialise(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})

    def _new_key(self, conn: Connection, state: str) -> KeyRow:
        """A new key in ``state``: generated in development, taken from the keys directory in
        production (the first PEM file there that is not registered yet)."""
        keys_dir = self._settings.keys_dir
        now = utcnow()
        if self._settings.development:
            key = generate_signing_key(self._settings.signing_alg)
            keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            key_file = f"{key.kid}.pem"
            write_signing_key(key, keys_dir / key_file)
        else:
            known = {r.key_file for r in _rows(conn)}
            candidates = sorted(p for p in keys_dir.glob("*.pem") if p.name not in known)
            if not candidates:
                raise ConfigurationError("No unregistered PEM key in GATEWAY_SIGNING_KEYS_DIR.")
            key_file = candidates[0].name
            key = read_signing_key(keys_dir / key_file)
        row = {
            "kid": key.kid,
            "alg": key.alg,
            "state": state,
            "public_jwk": key.public_jwk(),
            "key_file": key_file,
            "created_at": now,
            "activated_at": now if state == "active" else None,
        }
        conn.execute(insert(signing_keys).values(**row))
        self._parsed[key.kid] = key
        log.info("signing key %s created as %s", key.kid, state)
        return next(r for r in _rows(conn) if r.kid == key.kid)

    def ensure(self) -> None:
        """Make sure one key is active and (where possible) one is pre-published as next."""
        with self._engine.begin() as conn:
            self._serialise(conn)
            rows = _rows(conn)
            if not any(r.state == "active" for r in rows):
                self._new_key(conn, "active")
            if not any(r.state == "next" for r in _rows(conn)):
                try:
                    self._new_key(conn, "next")
                except ConfigurationError:
                    log.warning("no next signing key is pre-published; add a PEM file before rotating")
        self._snapshot = None
        self.signing_key()  # refuse to start, rather than fail the first request, without the key file

    def rotate(self) -> tuple[KeyRow, KeyRow | None]:
        """Promote the pre-published next key, retire the active one, pre-publish a new next.

        The retired key stays published until every token it signed has expired: the later of
        its last disclosure's expiry and now plus the longest token lifetime.
        """
        with self._engine.begin() as conn:
            self._serialise(conn)
            rows = _rows(conn)
            nxt = next((r for r in rows if r.state == "next"), None)
            if nxt is None:
                nxt = self._new_key(conn, "next")
            now = utcnow()
            # Every kind of token it signed: assertions, access tokens, decisions (≤ assertion lifetime),
            # status lists (≤ 4 × their bound, at least 1 h) and admin tokens (≤ 8 h).
            longest = max(
                self._settings.assertion_lifetime,
                self._settings.access_token_lifetime,
                max(3600, 4 * self._settings.status_list_max_age),
                8 * 3600,
            )
            for r in rows:
                if r.state != "active":
                    continue
                signed_until = conn.execute(
                    select(func.max(disclosures.c.expires_at)).where(disclosures.c.kid == r.kid)
                ).scalar()
                until = max(now + timedelta(seconds=longest), _aware(signed_until) or now)
                conn.execute(
                    update(signing_keys)
                    .where(signing_keys.c.kid == r.kid)
                    .values(state="retired", retired_at=now, publish_until=until)
                )
            conn.execute(
                update(signing_keys).where(signing_keys.c.kid == nxt.kid).values(state="active", activated_at=now)
            )
            try:
                new_next: KeyRow | None = self._new_key(conn, "next")
            except ConfigurationError:
                new_next = None
            active = next(r for r in _rows(conn) if r.kid == nxt.kid)
            # issue 13: every partner with a webhook hears of the new key, committed with the rotation.
            enqueue_event(
                conn,
                "*",
                "signing_key.rotated",
                {"active_kid": active.kid, "jwks_uri": f"{self._settings.issuer}/.well-known/jwks.json"},
            )
        self._snapshot = None
        return active, new_next

    def rows(self) -> list[KeyRow]:
        with reader(self._engine).connect() as conn:
            return _rows(conn)

    # --- the hot path -------------------------------------------------------------------------

    def snapshot(self) -> KeySnapshot:
        snap = self._snapshot
        if snap is not None and time.monotonic() - snap.loaded_at < self._refresh:
            return snap
        with self._lock:
            with reader(self._engine).connect() as conn:
                rows = _rows(conn)
                conn.rollback()
            now = utcnow()
            published = tuple(
                r
                for r in rows
                if r.state in ("active", "next") or (r.state == "retired" and (_aware(r.publish_until) or now) > now)
            )
            active = next((r for r in rows if r.state == "active"), None)
            snap = KeySnapshot(active=active, published=published, loaded_at=time.monotonic())
            self._snapshot = snap
            return snap

    def _load(self, row: KeyRow) -> SigningKey:
        key = self._parsed.get(row.kid)
        if key is None:
            try:
                key = read_signing_key(self._settings.keys_dir / Path(row.key_file).name)
            except KeyMaterialError as exc:
                # Several processes share one database but each reads private keys from its own
                # keys directory: every process needs the same files (GATEWAY_SIGNING_KEYS_DIR).
                raise ConfigurationError(
                    f"Signing key {row.kid} is registered in the database but not readable in this "
                    "process's GATEWAY_SIGNING_KEYS_DIR; every gateway process needs the same key files."
                ) from exc
            if key.kid != row.kid:
                raise ConfigurationError("A signing key file does not match its registered kid.")
            self._parsed[row.kid] = key
        return key

    def signing_key(self) -> SigningKey:
        snap = self.snapshot()
        if snap.active is None:
            raise ConfigurationError("No active signing key; run the gateway once or `gateway keys rotate`.")
        return self._load(snap.active)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [dict(r.public_jwk) for r in self.snapshot().published]}

    def fresh_verification_keys(self) -> Mapping[str, VerificationKey] | None:
        """:meth:`verification_keys` when the snapshot needs no database read, else ``None``: the
        event loop may then use them without a thread hop (issue 12)."""
        snap = self._snapshot
        if snap is None or not 0 <= time.monotonic() - snap.loaded_at < self._refresh:
            return None
        cached = self._verification
        return cached[1] if cached is not None and cached[0] is snap else None

    def verification_keys(self) -> Mapping[str, VerificationKey]:
        """Our own keys that may have signed something (active and retired, not next), for
        verifying tokens this gateway issued. Built from the published JWKs once per snapshot."""
        snap = self.snapshot()
        cached = self._verification
        if cached is not None and cached[0] is snap:
            return cached[1]
        doc = {"keys": [dict(r.public_jwk) for r in snap.published if r.state != "next"]}
        keys = parse_jwks(doc).keys
        self._verification = (snap, keys)
        return keys
