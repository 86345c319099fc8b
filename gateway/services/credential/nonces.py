"""Nonces for key proofs (OpenID4VCI 1.0 §7, the Nonce Endpoint).

A nonce is a row until it is used: using it deletes the row, so a second use — in this process or
any other over the same database — finds nothing. Expired rows are deleted as new ones are made.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, delete, insert

from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.store.tables_credential import credential_nonces

__all__ = ["NONCE_LIFETIME", "consume_nonce", "new_nonce"]

NONCE_LIFETIME: Final = timedelta(minutes=5)


def new_nonce(gw: Gateway) -> tuple[str, datetime]:
    now = utcnow()
    nonce = secrets.token_urlsafe(24)
    with gw.engine.begin() as conn:
        conn.execute(delete(credential_nonces).where(credential_nonces.c.expires_at < now))
        conn.execute(insert(credential_nonces).values(nonce=nonce, expires_at=now + NONCE_LIFETIME))
    return nonce, now + NONCE_LIFETIME


def consume_nonce(conn: Connection, nonce: str) -> bool:
    """Use ``nonce`` once, inside the caller's transaction: ``True`` when it was live and unused."""
    stmt = delete(credential_nonces).where(
        credential_nonces.c.nonce == nonce, credential_nonces.c.expires_at >= utcnow()
    )
    return conn.execute(stmt).rowcount == 1
