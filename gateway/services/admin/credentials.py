"""API keys for credit officers.

Partners — collaborating units included — no longer use API keys: they authenticate with signed
client assertions at ``/oauth/token`` (``gateway.services.exchange.oauth``). Officers keep a key until
role-based administrator tokens replace it. Only a SHA-256 of each secret is stored; the secret is
shown once, when created.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, insert, select, update

from gateway.errors import ValidationFailed
from gateway.services.context import Gateway, utcnow
from gateway.store.audit import append_audit
from gateway.store.engine import reader
from gateway.store.tables import api_credentials

__all__ = ["Principal", "authenticate_api_key", "create_api_key", "revoke_api_key"]

PrincipalType = Literal["officer"]
_PREFIX = "gwk"


@dataclass(frozen=True, slots=True)
class Principal:
    type: PrincipalType
    id: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_api_key(conn: Connection, gw: Gateway, principal_type: PrincipalType, principal_id: str) -> str:
    """Create a key and return it; it cannot be shown again."""
    if principal_type != "officer":
        raise ValidationFailed("Partners authenticate with private_key_jwt at /oauth/token, not API keys.")
    if not principal_id or len(principal_id) > 64:
        raise ValidationFailed("An officer id has 1 to 64 characters.")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(api_credentials).values(
            key_id=key_id,
            principal_type=principal_type,
            principal_id=principal_id,
            secret_sha256=_digest(secret),
            created_at=utcnow(),
        )
    )
    append_audit(
        conn,
        actor_type="operator",
        actor_id="cli",
        action="credential.create",
        target_type=principal_type,
        target_ref=principal_id,
        details={"key_id": key_id},
    )
    return f"{_PREFIX}.{key_id}.{secret}"


def revoke_api_key(conn: Connection, key_id: str) -> bool:
    done = conn.execute(
        update(api_credentials)
        .where(api_credentials.c.key_id == key_id, api_credentials.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return done.rowcount == 1


def authenticate_api_key(gw: Gateway, presented: str) -> Principal | None:
    """The officer behind a presented key, or None."""
    parts = presented.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    with reader(gw.engine).connect() as conn:
        row = conn.execute(
            select(
                api_credentials.c.principal_type,
                api_credentials.c.principal_id,
                api_credentials.c.secret_sha256,
            ).where(api_credentials.c.key_id == parts[1], api_credentials.c.revoked_at.is_(None))
        ).first()
        conn.rollback()
    if row is None or row.principal_type != "officer":
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(parts[2])):
        return None
    return Principal(type="officer", id=row.principal_id)
