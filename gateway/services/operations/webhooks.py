"""Signed webhooks through an outbox (issue 13; the measure's 授权 rule: a partner must stop using
what a resident withdrew, so it hears of a revocation without polling).

``enqueue_event`` writes the event in the caller's transaction, so an event exists exactly when the
change it reports was committed. ``deliver_due`` (run by ``gateway worker``, or by ``gateway
serve`` when ``GATEWAY_WEBHOOK_WORKER=1``) signs each due event as a ``gateway-event+jwt`` (``aud``
= the partner, ``jti`` = the event id, fixed across retries so the partner can drop duplicates)
and POSTs it. Failures are retried with exponential back-off (tenacity's wait strategy, stored in
the row so that a restart of either side loses nothing) and dead-lettered after ``MAX_ATTEMPTS``.
Every attempt is logged in ``webhook_deliveries``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, and_, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateway.clock import as_utc, utcnow
from gateway.errors import NotFound
from gateway.exchange import sign
from gateway.store.tables import disclosures
from gateway.store.tables_operations import webhook_deliveries, webhook_outbox

if TYPE_CHECKING:  # the keyring enqueues events, and the context imports the keyring
    from gateway.services.context import Gateway

__all__ = [
    "EVENT_TYPES",
    "MAX_ATTEMPTS",
    "TYP_GATEWAY_EVENT",
    "deliver_due",
    "deliveries",
    "enqueue_event",
    "enqueue_expired_consents",
    "purge_finished",
    "resend",
    "run_worker",
    "tell_holders",
    "webhook_url",
]

log = logging.getLogger(__name__)
TYP_GATEWAY_EVENT = "gateway-event+jwt"
EVENT_TYPES = (
    "consent.revoked",
    "consent.expired",
    "assertion.revoked",
    "assertion.suspended",  # an objection disputes what it states (issue 14)
    "assertion.reinstated",  # the objection ended without changing it
    "assertion.superseded",  # a rescoring changed what it states: a newer assertion is due
    "consent_request.answered",  # a resident approved or declined (issue 9)
    "signing_key.rotated",
)
MAX_ATTEMPTS = 8
_BACKOFF = wait_exponential(multiplier=30, min=30, max=6 * 3600)  # 30 s, 1 min, 2 min … capped at 6 h
_LEASE = timedelta(seconds=60)  # a worker that claimed an event and died frees it after this
_TIMEOUT = httpx.Timeout(10.0)


def enqueue_event(
    conn: Connection, partner_id: str, event_type: str, data: Mapping[str, Any], *, event_id: str | None = None
) -> str:
    """Queue one event for ``partner_id`` ("*": every partner with a webhook) in the caller's
    transaction. ``data`` must hold no personal data: ids of consents and tokens only. A fixed
    ``event_id`` makes queueing the same fact twice fail on the unique key."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    now = utcnow()
    event_id = event_id or secrets.token_urlsafe(18)
    conn.execute(
        insert(webhook_outbox).values(
            event_id=event_id,
            partner_id=partner_id,
            event_type=event_type,
            data=dict(data),
            created_at=now,
            state="pending",
            attempts=0,
            next_attempt_at=now,
        )
    )
    return event_id


_JTI_CHUNK = 500  # bound the IN list: a recompute chunk may supersede thousands at once


def tell_holders(conn: Connection, jtis: list[str], event_type: str) -> int:
    """Queue one ``event_type`` event for each partner holding one of ``jtis``, in the caller's
    transaction: the assertions' ids only, never who they are about. Returns the events queued."""
    held: dict[str, list[str]] = {}
    for i in range(0, len(jtis), _JTI_CHUNK):
        chunk = jtis[i : i + _JTI_CHUNK]
        for r in conn.execute(select(disclosures.c.audience, disclosures.c.jti).where(disclosures.c.jti.in_(chunk))):
            held.setdefault(r.audience, []).append(r.jti)
    for audience, theirs in sorted(held.items()):
        enqueue_event(conn, audience, event_type, {"jtis": sorted(theirs)})
    return len(held)


def purge_finished(conn: Connection, *, before: datetime) -> int:
    """Delete the events that are over (delivered, dead, or with no endpoint) and were queued before
    ``before``, with their attempt log: the outbox is a queue, not an archive (the audit log is).
    Pending events are never purged, however old. Returns the events deleted."""
    finished = and_(
        webhook_outbox.c.state.in_(("delivered", "dead", "no_endpoint")), webhook_outbox.c.created_at < before
    )
    conn.execute(
        delete(webhook_deliveries).where(
            webhook_deliveries.c.event_id.in_(select(webhook_outbox.c.event_id).where(finished))
        )
    )
    return int(conn.execute(delete(webhook_outbox).where(finished)).rowcount)


def webhook_url(gw: Gateway, partner_id: str, event_type: str) -> str | None:
    """The partner's endpoint for this event type, or ``None`` (no webhook, not wanted, disabled)."""
    partner = gw.partners.enabled(partner_id)
    config = partner.document.get("webhook") if partner is not None else None
    if not config:
        return None
    wanted = config.get("events")
    if wanted is not None and event_type not in wanted:
        return None
    url = str(config["url"])
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme != "https" and not (loopback and gw.settings.development):
        log.warning("partner %s: webhook url is not https; event not delivered", partner_id)
        return None
    return url


def enqueue_expired_consents(gw: Gateway, *, now: datetime | None = None, horizon_days: int = 7) -> int:
    """Queue ``consent.expired`` for consents that ran out (in the last ``horizon_days``) and were
    not revoked. Nothing changes in the database when a consent expires, so the worker looks for
    them; the event id is derived from the consent, so each is queued once whatever the number of
    workers."""
    from gateway.store.tables import consents

    moment = now or utcnow()
    with gw.engine.connect() as conn:
        expired = conn.execute(
            select(consents.c.id, consents.c.audience, consents.c.expires_at).where(
                consents.c.revoked_at.is_(None),
                consents.c.expires_at <= moment,
                consents.c.expires_at > moment - timedelta(days=horizon_days),
                ~select(webhook_outbox.c.id)
                .where(webhook_outbox.c.event_id == literal("consent-expired-") + consents.c.id)
                .exists(),
            )
        ).all()
        conn.rollback()
    queued = 0
    for row in expired:
        try:
            with gw.engine.begin() as conn:
                enqueue_event(
                    conn,
                    row.audience,
                    "consent.expired",
                    {"consent": row.id, "expired_at": int(as_utc(row.expires_at).timestamp())},
                    event_id=f"consent-expired-{row.id}",
                )
            queued += 1
        except IntegrityError:
            pass  # another worker queued it first
    return queued


def _fan_out(gw: Gateway, row: Any) -> None:
    """Replace a broadcast ("*") by one event per partner with a webhook, in one transaction."""
    with gw.engine.begin() as conn:
        for partner in gw.partners.all():
            if webhook_url(gw, partner.id, row.event_type) is not None:
                enqueue_event(conn, partner.id, row.event_type, row.data)
        conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == row.id).values(state="delivered"))


def _claim(gw: Gateway, now: datetime, limit: int) -> list[Any]:
    with gw.engine.begin() as conn:
        query = (
            select(webhook_outbox)
            .where(webhook_outbox.c.state == "pending", webhook_outbox.c.next_attempt_at <= now)
            .order_by(webhook_outbox.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # several workers share the queue
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.id.in_([r.id for r in rows]))
                .values(next_attempt_at=now + _LEASE)
            )
    return list(rows)


def _post(client: httpx.Client, url: str, token: str) -> httpx.Response:
    # A second immediate try for a dropped connection; longer outages wait for the stored back-off.
    for attempt in Retrying(
        stop=stop_after_attempt(2),
        wait=wait_exponential(multiplier=0.2, max=1),
        retry=retry_if_exception_type(httpx.TransportError),
        reraise=True,
    ):
        with attempt:
            return client.post(url, content=token, headers={"Content-Type": "application/jwt"}, timeout=_TIMEOUT)
    raise AssertionError("unreachable")


def _backoff(attempts: int) -> timedelta:
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempts
    return timedelta(seconds=_BACKOFF(state))


def deliver_due(
    gw: Gateway, *, client: httpx.Client | None = None, now: datetime | None = None, limit: int = 50
) -> int:
    """Deliver every due event once; returns how many were delivered."""
    moment = now or utcnow()
    delivered = 0
    own = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        for row in _claim(gw, moment, limit):
            if row.partner_id == "*":
                _fan_out(gw, row)
                continue
            url = webhook_url(gw, row.partner_id, row.event_type)
            if url is None:
                with gw.engine.begin() as conn:
                    conn.execute(
                        update(webhook_outbox).where(webhook_outbox.c.id == row.id).values(state="no_endpoint")
                    )
                continue
            delivered += _attempt(gw, http, row, url, moment)
    finally:
        if own:
            http.close()
    return delivered


def _attempt(gw: Gateway, http: httpx.Client, row: Any, url: str, now: datetime) -> int:
    claims = {
        "iss": gw.settings.issuer,
        "aud": row.partner_id,
        "iat": int(time.time()),
        "jti": row.event_id,
        "event": {"type": row.event_type, "data": row.data, "created_at": int(as_utc(row.created_at).timestamp())},
    }
    token = sign(claims, gw.keyring.signing_key(), TYP_GATEWAY_EVENT)
    started = time.perf_counter()
    status: int | None = None
    try:
        status = _post(http, url, token).status_code
        outcome = "delivered" if 200 <= status < 300 else "http_status"
    except httpx.HTTPError:
        outcome = "network_error"
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts}
    if outcome == "delivered":
        values.update(state="delivered", delivered_at=utcnow())
    elif attempts >= MAX_ATTEMPTS:
        values.update(state="dead")
        log.warning("webhook event %s to %s dead-lettered after %d attempts", row.event_id, row.partner_id, attempts)
    else:
        values.update(next_attempt_at=now + _backoff(attempts))
    with gw.engine.begin() as conn:
        conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == row.id).values(**values))
        conn.execute(
            insert(webhook_deliveries).values(
                event_id=row.event_id,
                partner_id=row.partner_id,
                attempt=attempts,
                at=utcnow(),
                outcome=outcome,
                status_code=status,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
        )
    return int(outcome == "delivered")


def deliveries(gw: Gateway, partner_id: str | None, *, limit: int = 100) -> list[dict[str, Any]]:
    """The newest events (with their attempts) of one partner, or of all for administrators."""
    with gw.engine.connect() as conn:
        query = select(webhook_outbox).where(webhook_outbox.c.partner_id != "*")
        if partner_id is not None:
            query = query.where(webhook_outbox.c.partner_id == partner_id)
        events = conn.execute(query.order_by(webhook_outbox.c.id.desc()).limit(limit)).all()
        ids = [e.event_id for e in events]
        attempts = conn.execute(
            select(webhook_deliveries).where(webhook_deliveries.c.event_id.in_(ids)).order_by(webhook_deliveries.c.id)
        ).all()
        conn.rollback()
    by_event: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        by_event.setdefault(a.event_id, []).append(
            {
                "attempt": a.attempt,
                "at": a.at,
                "outcome": a.outcome,
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
            }
        )
    return [
        {
            "event_id": e.event_id,
            "partner_id": e.partner_id,
            "type": e.event_type,
            "state": e.state,
            "attempts": e.attempts,
            "created_at": e.created_at,
            "next_attempt_at": e.next_attempt_at if e.state == "pending" else None,
            "delivered_at": e.delivered_at,
            "log": by_event.get(e.event_id, []),
        }
        for e in events
    ]


def resend(gw: Gateway, event_id: str, partner_id: str | None) -> None:
    """Queue an event again now (a dead-lettered one included), keeping its id.

    :raises NotFound: no such event (of this partner, when ``partner_id`` is given).
    """
    with gw.engine.begin() as conn:
        where = webhook_outbox.c.event_id == event_id
        if partner_id is not None:
            where = where & (webhook_outbox.c.partner_id == partner_id)
        changed = conn.execute(
            update(webhook_outbox)
            .where(where, webhook_outbox.c.partner_id != "*")
            .values(state="pending", attempts=0, next_attempt_at=utcnow())
        ).rowcount
    if not changed:
        raise NotFound("No webhook event has this id.")


def run_worker(gw: Gateway, interval: float, stop: threading.Event | None = None) -> None:
    """Deliver due events every ``interval`` seconds until ``stop`` is set (or forever)."""
    event = stop or threading.Event()
    while not event.is_set():
        try:
            enqueue_expired_consents(gw)
            while deliver_due(gw) and not event.is_set():
                pass  # a full batch: more may be due
        except Exception as exc:  # the next round retries
            log.error("webhook delivery round failed: %s", type(exc).__name__)
        event.wait(interval)
