"""Tables of the web pages (issue 11): server-side sessions and sign-in attempts.

Sessions live in the database, not in a process, so that every gateway process sees a sign-out or
an expiry at once. Neither table holds a usable secret: the session cookie's value and the
sign-in state are stored as SHA-256 digests, so a read of the database cannot be replayed as a
cookie. A resident's session holds only the keyed hashes the API already keeps (never the ID
number or the name).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from gateway.store.tables import Json, Stamp, metadata

__all__ = ["web_login_states", "web_sessions"]

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("kind", String(16), nullable=False),  # staff | resident
    Column("subject", String(128), nullable=False),  # staff: the IdP's name; resident: the id_hash
    Column("roles", Json, nullable=False),  # staff roles; residents: []
    Column("profile", Json, nullable=False),  # resident: name_hash, name_masked, birth_date; staff: {}
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("last_seen_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),  # the absolute timeout
)
Index("ix_web_sessions_expires_at", web_sessions.c.expires_at)

# One row per sign-in started: the OIDC state, nonce and PKCE verifier must survive the round trip
# to the identity provider even when the callback reaches another process.
web_login_states = Table(
    "web_login_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("return_to", String(256), nullable=False),
    Column("expires_at", Stamp, nullable=False),
)
