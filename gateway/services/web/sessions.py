"""Server-side sessions for the console and the residents' pages.

A session is a row in ``web_sessions`` keyed by the SHA-256 of a 256-bit random cookie value, so
that every gateway process sees a sign-out or an expiry at once (nothing lives in one process) and a
copy of the database cannot be replayed as a cookie. Two limits end a session: an idle timeout
(no request for ``session_idle_seconds``) and an absolute one (``session_absolute_seconds`` after
sign-in, however busy). Each session carries its own CSRF token (synchronizer pattern). Sign-in and
sign-out are audited, by name for staff and by keyed hash for residents.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update

from gateway.clock import as_utc, utcnow
from gateway.errors import CsrfRejected, SessionExpired
from gateway.services.context import Gateway
from gateway.store.audit import append_audit
from gateway.store.tables_web import web_sessions

__all__ = ["Kind", "WebSession", "check_csrf", "end_session", "load_session", "start_session"]

Kind = Literal["staff", "resident"]
# Touching last_seen_at on every request would turn each page view into a write; a minute of slack
# in the idle timeout is worth it.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True, repr=False)
class WebSession:
    token_hash: str
    kind: Kind
    subject: str
    roles: frozenset[str]
    profile: Mapping[str, Any]
    csrf_token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"WebSession(<{self.kind}>)"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _actor(kind: Kind) -> str:
    return "admin" if kind == "staff" else "resident"


def start_session(
    gw: Gateway,
    kind: Kind,
    subject: str,
    *,
    roles: frozenset[str] = frozenset(),
    profile: Mapping[str, Any] | None = None,
) -> str:
    """Create a session and audit the sign-in; returns the cookie value (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with gw.engine.begin() as conn:
        # Sessions past their absolute timeout go at each sign-in (indexed), so the table stays bounded
        # even when nobody presents an old cookie again.
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
        conn.execute(
            insert(web_sessions).values(
                token_hash=_digest(token),
                kind=kind,
                subject=subject,
                roles=sorted(roles),
                profile=dict(profile or {}),
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=gw.settings.session_absolute_seconds),
            )
        )
        append_audit(
            conn,
            actor_type=_actor(kind),
            actor_id=subject,
            action=f"{kind}.sign_in",
            target_type="web_session",
            target_ref=_digest(token)[:16],
            details={"roles": sorted(roles)} if kind == "staff" else {},
        )
    return token


def load_session(gw: Gateway, kind: Kind, token: str | None, *, idle_seconds: int | None = None) -> WebSession:
    """The live session for a cookie value; ends (deletes) it when a timeout has passed.

    :raises SessionExpired: no cookie, an unknown one, or a session past a timeout (the three look alike).
    """
    if not token or len(token) > 128:
        raise SessionExpired("Sign in to continue.")
    digest = _digest(token)
    now = utcnow()
    idle = timedelta(seconds=idle_seconds or gw.settings.session_idle_seconds)
    expired = False
    with gw.engine.begin() as conn:
        row = conn.execute(
            select(web_sessions).where(web_sessions.c.token_hash == digest, web_sessions.c.kind == kind)
        ).first()
        if row is None:
            raise SessionExpired("Sign in to continue.")
        last_seen = as_utc(row.last_seen_at)
        if now >= as_utc(row.expires_at) or now - last_seen >= idle:
            # Deleted and audited in this transaction, which must commit: raise only after it.
            expired = True
            conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == digest))
            append_audit(
                conn,
                actor_type=_actor(kind),
                actor_id=row.subject,
                action=f"{kind}.session_expired",
                target_type="web_session",
                target_ref=digest[:16],
            )
        elif now - last_seen >= _TOUCH_EVERY:
            conn.execute(update(web_sessions).where(web_sessions.c.token_hash == digest).values(last_seen_at=now))
    if expired:
        raise SessionExpired("The session has ended; sign in again.")
    return WebSession(
        token_hash=digest,
        kind=kind,
        subject=row.subject,
        roles=frozenset(row.roles or ()),
        profile=dict(row.profile or {}),
        csrf_token=row.csrf_token,
        expires_at=as_utc(row.expires_at),
    )


def check_csrf(session: WebSession, presented: str | None) -> None:
    """:raises CsrfRejected: the form's (or header's) token is not this session's."""
    if not presented or not hmac.compare_digest(presented.encode(), session.csrf_token.encode()):
        raise CsrfRejected("Reload the page and try again.")


def end_session(gw: Gateway, session: WebSession, *, reason: str = "sign_out") -> None:
    """Delete the session (every process sees it at once) and audit the sign-out."""
    with gw.engine.begin() as conn:
        gone = conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == session.token_hash)).rowcount
        if gone:
            append_audit(
                conn,
                actor_type=_actor(session.kind),
                actor_id=session.subject,
                action=f"{session.kind}.{reason}",
                target_type="web_session",
                target_ref=session.token_hash[:16],
            )
