"""``Idempotency-Key`` (IETF draft-ietf-httpapi-idempotency-key-header): a partner may retry a
POST safely. The first answer to (partner, endpoint, key) is stored in the database for 24 hours;
the same key with the same body gets that answer again, with another body a 422, and while the
first request is still running a 409. Several processes share the table, so a retry that lands on
another process is recognised too.

Only successful answers are kept: a refusal or a failure frees the key, so a partner that fixes
the cause (a consent granted, a service back) can retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.clock import as_utc, utcnow
from gateway.errors import IdempotencyInProgress, IdempotencyKeyInvalid, IdempotencyKeyReused
from gateway.store.tables_operations import idempotency_records

__all__ = ["RETENTION", "Claimed", "Replay", "body_fingerprint", "check_key", "claim", "forget", "store"]

RETENTION = timedelta(hours=24)
# A request that has held its key this long without an answer died with its process: take it over.
_ABANDONED = timedelta(seconds=120)
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as a structured-field string would carry


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class Claimed:
    """The key is ours: produce the answer, then :func:`store` it (or :func:`forget` on failure)."""


def check_key(raw: str) -> str:
    key = raw.strip()
    if key.startswith('"') and key.endswith('"') and len(key) >= 2:
        key = key[1:-1]  # the draft sends it as a structured-field string
    if not _KEY.fullmatch(key):
        raise IdempotencyKeyInvalid("Idempotency-Key must be 1–255 visible ASCII characters.")
    return key


def body_fingerprint(body: bytes) -> str:
    """SHA-256 of the JSON body in canonical form (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = canonical.encode("utf-8")
    except ValueError:
        data = body
    return hashlib.sha256(data).hexdigest()


def claim(engine: Engine, partner_id: str, endpoint: str, key: str, fingerprint: str) -> Replay | Claimed:
    """Take the key for this request, or say what to answer instead.

    :raises IdempotencyKeyReused: the key came with another body (422).
    :raises IdempotencyInProgress: the first request with this key has not finished (409).
    """
    where = (
        (idempotency_records.c.partner_id == partner_id)
        & (idempotency_records.c.endpoint == endpoint)
        & (idempotency_records.c.idem_key == key)
    )
    for _ in range(3):
        now = utcnow()
        with engine.begin() as conn:
            row = conn.execute(select(idempotency_records).where(where)).first()
            stale = row is not None and (
                as_utc(row.expires_at) <= now or (row.status == 0 and as_utc(row.created_at) <= now - _ABANDONED)
            )
            if row is not None and not stale:
                if row.body_sha256 != fingerprint:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body.")
                if row.status == 0:
                    raise IdempotencyInProgress("The first request with this Idempotency-Key is still running.")
                return Replay(int(row.status), json.loads(row.response))
            if stale:
                conn.execute(delete(idempotency_records).where(where))
            # Expired keys of anyone go as well, a few at a time.
            conn.execute(delete(idempotency_records).where(idempotency_records.c.expires_at < now))
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(idempotency_records).values(
                        partner_id=partner_id,
                        endpoint=endpoint,
                        idem_key=key,
                        body_sha256=fingerprint,
                        status=0,
                        response="null",
                        created_at=now,
                        expires_at=now + RETENTION,
                    )
                )
            return Claimed()
        except IntegrityError:
            continue  # another process took it a moment ago: read what it stored
    raise IdempotencyInProgress("The first request with this Idempotency-Key is still running.")


def store(engine: Engine, partner_id: str, endpoint: str, key: str, status: int, body: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(idempotency_records)
            .where(
                (idempotency_records.c.partner_id == partner_id)
                & (idempotency_records.c.endpoint == endpoint)
                & (idempotency_records.c.idem_key == key)
            )
            .values(status=status, response=json.dumps(body, ensure_ascii=False))
        )


def forget(engine: Engine, partner_id: str, endpoint: str, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(idempotency_records).where(
                (idempotency_records.c.partner_id == partner_id)
                & (idempotency_records.c.endpoint == endpoint)
                & (idempotency_records.c.idem_key == key)
                & (idempotency_records.c.status == 0)
            )
        )
