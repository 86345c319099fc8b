"""The issuer side of the Token Status List (draft-ietf-oauth-status-list).

Every assertion gets a slot — a random index in a large 2-bit list — in the transaction that
issues it, and carries ``status: {status_list: {idx, uri}}``. A slot row lives until its
assertion has expired (plus a grace for verifiers' clock skew), so an index can never be handed
out twice while a token holding it can still be valid; the primary key makes that atomic across
processes. Random indexes in one big list give herd privacy: fetching the list reveals nothing
about which assertion is being checked.

Statuses change in the transactions that make them true: a consent revocation marks the
assertions issued under it INVALID; a rescoring marks SUPERSEDED every live assertion that now
states something false (its tier, or its score when it disclosed one).

The served ``statuslist+jwt`` is rebuilt from the rows whose status is not VALID and cached per
process for at most ``status_list_max_age`` seconds: that cache is the propagation bound.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    delete,
    func,
    or_,
    select,
    union_all,
    update,
)

from gateway.clock import utcnow
from gateway.config import Settings
from gateway.errors import NotFound
from gateway.exchange import TYP_STATUS_LIST, Status, StatusList, build_status_list_token_claims, sign
from gateway.services.exchange.keyring import Keyring
from gateway.services.operations.metrics import record_status_list_lag
from gateway.services.operations.webhooks import tell_holders
from gateway.store import driver_sql
from gateway.store.engine import reader
from gateway.store.tables import current_scores, disclosures, people, score_history, status_slots
from gateway.store.tables_credential import credentials
from gateway.store.tables_hardening import status_list_fill

__all__ = [
    "STATUS_LIST_MEDIA_TYPE",
    "ServedStatusList",
    "StatusListNotFound",
    "StatusListService",
    "revoke_consent_assertions",
    "supersede_for_people",
    "supersede_in_range",
]

STATUS_LIST_MEDIA_TYPE: Final = "application/statuslist+jwt"
BITS: Final = 2  # VALID, INVALID, SUSPENDED and our SUPERSEDED need two bits
# Verifiers allow some clock skew on an assertion's exp; its index stays reserved that much longer.
PURGE_GRACE: Final = timedelta(minutes=5)
# A list token outlives its cache bound so that verifiers can ride out a short outage of ours,
# but never by more than an hour: a list older than that says too little about today.
MIN_TOKEN_LIFETIME: Final = 3600
_REFRESH_SECONDS: Final = 30.0  # how often a process re-counts the lists' fill
_MAX_TRIES: Final = 64  # random draws in a half-full list before another list is tried
STRIPES: Final = 16  # fill counter rows per list (see gateway.store.tables_hardening)
_IN_CHUNK: Final = 500


_VALID: Final = int(Status.VALID)
_RANDOM: Final = secrets.SystemRandom()


# The allocation's statements, sent through the driver's cursor (gateway.store.driver_sql): every
# issuance runs them, and SQLAlchemy's execution path cost more than SQLite's work (issue 12).
_TAKE = "UPDATE status_list_fill SET used = used + 1 WHERE list_id = ? AND stripe = ? AND used < ? RETURNING used"
_CREATE = (
    "INSERT INTO status_list_fill (list_id, stripe, used) VALUES (?, ?, 1) "
    "ON CONFLICT (list_id, stripe) DO NOTHING RETURNING used"
)
_INSERT_SLOT = (
    "INSERT INTO status_slots (list_id, idx, jti, status, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (list_id, idx) DO NOTHING RETURNING idx"
)


class StatusListNotFound(NotFound):
    code = "status_list_not_found"
    title = "The status list does not exist"


@dataclass(frozen=True, slots=True)
class ServedStatusList:
    list_id: int
    token: str
    built_at: float  # on the service's clock

    def max_age(self, now: float, bound: int) -> int:
        """Seconds an HTTP cache may still keep this token: what remains of the bound, so that our
        cache and theirs together never exceed it."""
        return max(0, min(bound, int(bound - (now - self.built_at))))


@dataclass(slots=True)
class _Fill:
    list_id: int
    used: int  # rows in the list when counted, plus what this process allocated since
    counted_at: float


class StatusListService:
    """Slot allocation and the signed, cached status list tokens of one gateway process."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        keyring: Keyring,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._keyring = keyring
        self.now = now
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()  # one rebuild at a time; the others wait and reuse it
        self._fill: _Fill | None = None
        self._served: dict[int, ServedStatusList] = {}

    @property
    def size(self) -> int:
        return self._settings.status_list_size

    @property
    def max_age(self) -> int:
        return self._settings.status_list_max_age

    def uri(self, list_id: int) -> str:
        """The list's ``uri`` in assertions, and the ``sub`` of its token."""
        return f"{self._settings.issuer}/status-lists/{list_id}"

    # --- allocation (inside the issuing transaction) -----------------------------------------

    @property
    def _stripes(self) -> int:
        return max(1, min(STRIPES, self.size // 2))

    @property
    def _cap(self) -> int:
        """Places per stripe: all stripes together hold at most half the list (the documented fill)."""
        return (self.size // 2) // self._stripes

    def _lowest_with_room(self, conn: Connection) -> int:
        full = self._stripes * self._cap
        rows = conn.execute(
            select(status_list_fill.c.list_id, func.sum(status_list_fill.c.used)).group_by(status_list_fill.c.list_id)
        ).all()
        used = {int(list_id): int(total) for list_id, total in rows}
        return next((i for i in sorted(used) if used[i] < full), max(used, default=0) + 1)

    def _take_place(self, conn: Connection, list_id: int) -> bool:
        """Count one more slot in ``list_id`` if one of its stripes has room (any process)."""
        cap = self._cap
        stripes = list(range(self._stripes))
        _RANDOM.shuffle(stripes)
        for stripe in stripes:
            if driver_sql.execute(conn, _TAKE, (list_id, stripe, cap)):
                return True
            if driver_sql.execute(conn, _CREATE, (list_id, stripe)):
                return True
        return False

    def _reserve(self, conn: Connection) -> int:
        """A list with a place counted for the caller's slot, in the caller's transaction."""
        with self._lock:
            fill = self._fill
        if fill is None or not 0 <= self.now() - fill.counted_at < _REFRESH_SECONDS:
            # Now and then start again from the lowest list with room: purges free places there.
            fill = _Fill(self._lowest_with_room(conn), 0, self.now())
        list_id = fill.list_id
        while not self._take_place(conn, list_id):
            list_id += 1  # full (whoever filled it): the next one
        with self._lock:
            self._fill = _Fill(list_id, 0, fill.counted_at)
        return list_id

    def guess(self) -> tuple[int, int, int, int] | None:
        """``(list_id, stripe, cap, idx)`` for an allocation in one statement (PostgreSQL, see
        :func:`gateway.services.exchange.issuance`): the list this process last counted in, a random stripe and
        index; ``None`` when the fill count is due for a refresh (then :meth:`allocate` is used)."""
        with self._lock:
            fill = self._fill
        if fill is None or not 0 <= self.now() - fill.counted_at < _REFRESH_SECONDS:
            return None
        return fill.list_id, _RANDOM.randrange(self._stripes), self._cap, secrets.randbelow(self.size)

    def place_counted(self, conn: Connection, list_id: int, *, jti: str, expires_at: datetime) -> tuple[int, int]:
        """A slot in ``list_id``, whose place the caller has already counted: ``(list_id, idx)``."""
        expires, updated = driver_sql.stamp(conn, expires_at), driver_sql.stamp(conn, utcnow())
        for _ in range(_MAX_TRIES):
            idx = secrets.randbelow(self.size)
            if driver_sql.execute(conn, _INSERT_SLOT, (list_id, idx, jti, _VALID, expires, updated)):
                return list_id, idx
        return self.allocate(conn, jti=jti, expires_at=expires_at)  # 2**-64: the place leaks, as below

    def allocate(self, conn: Connection, *, jti: str, expires_at: datetime) -> tuple[int, int]:
        """Reserve a random free index for the assertion ``jti`` until ``expires_at``.

        Returns ``(list_id, idx)``. The list's shared counter keeps it at or under half full
        across processes; the insert ignores a taken index and another one is drawn; the caller's
        transaction commits the slot and the count with the assertion, or none of them.
        """
        expires = driver_sql.stamp(conn, expires_at)
        while True:
            list_id = self._reserve(conn)
            updated = driver_sql.stamp(conn, utcnow())
            for _ in range(_MAX_TRIES):
                idx = secrets.randbelow(self.size)
                if driver_sql.execute(conn, _INSERT_SLOT, (list_id, idx, jti, _VALID, expires, updated)):
                    return list_id, idx
            # At most half full, 64 draws all taken is a 2**-64 event: the place stays counted
            # (a conservative leak) and another list is tried.

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Free the slots of assertions that expired more than :data:`PURGE_GRACE` ago."""
        cutoff = (now or datetime.fromtimestamp(self.now(), UTC)) - PURGE_GRACE
        with self._engine.begin() as conn:
            freed = conn.execute(
                delete(status_slots).where(status_slots.c.expires_at < cutoff).returning(status_slots.c.list_id)
            ).all()
            per_list: dict[int, int] = {}
            for (list_id,) in freed:
                per_list[list_id] = per_list.get(list_id, 0) + 1
            for list_id, count in per_list.items():
                _uncount(conn, list_id, count)
        if freed:
            with self._lock:
                self._fill = None  # places were freed: start again from the lowest list with room
        return len(freed)

    # --- the served tokens --------------------------------------------------------------------

    def _known(self, list_id: int) -> bool:
        if list_id == 1:
            return True
        with reader(self._engine).connect() as conn:
            found = conn.execute(select(status_slots.c.idx).where(status_slots.c.list_id == list_id).limit(1)).first()
            conn.rollback()
        return found is not None

    def _build(self, list_id: int) -> ServedStatusList:
        if not self._known(list_id):
            raise StatusListNotFound("No status list has this id.")
        # Rebuilding is periodic and cheap to piggy-back on: slots of long-expired assertions go.
        self.purge_expired()
        with reader(self._engine).connect() as conn:
            rows = conn.execute(
                select(status_slots.c.idx, status_slots.c.status).where(
                    status_slots.c.list_id == list_id, status_slots.c.status != int(Status.VALID)
                )
            ).all()
            conn.rollback()
        lst = StatusList(BITS, self.size)
        for idx, status in rows:
            if idx < self.size:  # a list shrunk by configuration keeps serving what fits
                lst.set(idx, status)
        built_at = self.now()
        iat = int(built_at)
        claims = build_status_list_token_claims(
            self.uri(list_id),
            lst,
            iat,
            iat + max(MIN_TOKEN_LIFETIME, 4 * self.max_age),
            self.max_age,
            iss=self._settings.issuer,
        )
        return ServedStatusList(list_id, sign(claims, self._keyring.signing_key(), TYP_STATUS_LIST), built_at)

    def served(self, list_id: int) -> ServedStatusList:
        """The signed list, rebuilt when the cached one is ``max_age`` seconds old.

        :raises StatusListNotFound: no slot was ever allocated in this list (list 1 always exists).
        """
        if not 1 <= list_id < 1 << 31:
            raise StatusListNotFound("No status list has this id.")
        cached = self._fresh(list_id)
        if cached is not None:
            record_status_list_lag(self.now() - cached.built_at)  # issue 13
            return cached
        with self._build_lock:
            cached = self._fresh(list_id)
            if cached is not None:
                return cached
            try:
                built = self._build(list_id)
            except StatusListNotFound:
                with self._lock:
                    self._served.pop(list_id, None)
                raise
            with self._lock:
                self._served[list_id] = built
            return built

    def _fresh(self, list_id: int) -> ServedStatusList | None:
        with self._lock:
            cached = self._served.get(list_id)
        if cached is not None and 0 <= self.now() - cached.built_at < self.max_age:
            return cached
        return None


# --- status changes (inside the transaction that makes them true) ----------------------------


def _uncount(conn: Connection, list_id: int, count: int) -> None:
    """Give ``count`` freed places back to a list's stripes (any stripes: only the sum matters)."""
    rows = conn.execute(
        select(status_list_fill.c.stripe, status_list_fill.c.used)
        .where(status_list_fill.c.list_id == list_id, status_list_fill.c.used > 0)
        .order_by(status_list_fill.c.used.desc())
        .with_for_update()
    ).all()
    for stripe, used in rows:
        if count <= 0:
            break
        give = min(count, int(used))
        conn.execute(
            update(status_list_fill)
            .where(status_list_fill.c.list_id == list_id, status_list_fill.c.stripe == stripe)
            .values(used=status_list_fill.c.used - give)
        )
        count -= give


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def _stale_assertions(who: ColumnElement[bool], now: datetime) -> Select[tuple[str]]:
    """Live assertions about the people ``who`` selects that state a tier, or a disclosed score,
    other than their current one."""
    d, c, h = disclosures, current_scores, score_history
    untrue = or_(
        c.c.tier.is_(None),
        c.c.tier != d.c.tier,
        and_(d.c.disclosure == "score", or_(c.c.score.is_(None), h.c.score.is_(None), c.c.score != h.c.score)),
    )
    return (
        select(d.c.jti)
        .select_from(
            people.join(d, d.c.person_key == people.c.id_hash)
            .join(c, c.c.person_id == people.c.id)
            .join(h, h.c.id == d.c.score_id)
        )
        .where(who, d.c.expires_at > now, d.c.status_list.is_not(None), untrue)
    )


def _stale_credentials(who: ColumnElement[bool], now: datetime) -> Select[tuple[str]]:
    """The same for residents' credit codes (issue 10), including people with no current tier at
    all (after a withdrawal of the scoring authorisation, or ineligibility)."""
    cr, c, h = credentials, current_scores, score_history
    untrue = or_(
        c.c.tier.is_(None),
        c.c.tier != cr.c.tier,
        and_(cr.c.with_score, or_(c.c.score.is_(None), h.c.score.is_(None), c.c.score != h.c.score)),
    )
    return (
        select(cr.c.id)
        .select_from(
            people.join(cr, cr.c.person_id == people.c.id)
            .outerjoin(c, c.c.person_id == people.c.id)
            .join(h, h.c.id == cr.c.score_id)
        )
        .where(who, cr.c.expires_at > now, untrue)
    )


def _supersede(conn: Connection, who: ColumnElement[bool], now: datetime) -> int:
    """Mark SUPERSEDED what the live assertions and credentials about ``who`` no longer truly
    state (one statement, whatever the number of people), and queue an ``assertion.superseded``
    webhook event for each partner holding one."""
    stale = union_all(_stale_assertions(who, now), _stale_credentials(who, now))
    stmt = (
        update(status_slots)
        .where(status_slots.c.status == int(Status.VALID), status_slots.c.jti.in_(stale))
        .values(status=int(Status.SUPERSEDED), updated_at=now)
        .returning(status_slots.c.jti)
    )
    jtis = [r.jti for r in conn.execute(stmt)]
    if jtis:
        # The partners holding them hear it in this transaction, as of a revocation: only the ids.
        tell_holders(conn, jtis, "assertion.superseded")
    return len(jtis)


def supersede_for_people(conn: Connection, person_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """After rescoring ``person_ids``: supersede what their live assertions and credentials no
    longer truly state."""
    ids = sorted(set(person_ids))
    at = _now(now)
    return sum(_supersede(conn, people.c.id.in_(ids[i : i + _IN_CHUNK]), at) for i in range(0, len(ids), _IN_CHUNK))


def supersede_in_range(conn: Connection, first_id: int, last_id: int, *, now: datetime | None = None) -> int:
    """The same for a recompute chunk: people with ``first_id <= id <= last_id``."""
    return _supersede(conn, people.c.id.between(first_id, last_id), _now(now))


def revoke_consent_assertions(conn: Connection, consent_id: str, *, now: datetime | None = None) -> int:
    """A consent was withdrawn: every unexpired assertion issued under it becomes INVALID."""
    at = _now(now)
    live = select(disclosures.c.jti).where(disclosures.c.consent_id == consent_id, disclosures.c.expires_at > at)
    stmt = (
        update(status_slots)
        .where(status_slots.c.jti.in_(live), status_slots.c.status != int(Status.INVALID))
        .values(status=int(Status.INVALID), updated_at=at)
    )
    return conn.execute(stmt).rowcount
