"""Telling a database outage from a bug, and logging each outage once.

When PostgreSQL stops, every request that touches it fails with the driver's "connection
refused" / "server closed the connection" errors; under load that was ~1,000 tracebacks in six
seconds. Those errors are an outage, not a fault of the request: the HTTP edge answers them
503 with ``Retry-After`` and logs one line per outage, with the cause's class only (the text of
a driver error may quote the SQL and its parameters). The outage ends at the next success of the
readiness probe, or after ``_QUIET_SECONDS`` without a failure.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

from sqlalchemy import exc as sa_exc

__all__ = ["DATABASE_ERRORS", "OutageLog", "is_data_error", "is_outage", "outage_log"]

log = logging.getLogger(__name__)
_QUIET_SECONDS: Final = 30.0
# SQLSTATE classes of a server going away or refusing: 08 connection exception, 57P admin shutdown /
# crash / cannot connect now, 53 insufficient resources.
_OUTAGE_STATES: Final = ("08", "57P", "53")


# What the HTTP edge answers itself (503 or 422) instead of letting it become a 500.
DATABASE_ERRORS: Final = (sa_exc.DBAPIError, sa_exc.TimeoutError, OverflowError)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (rather than that a statement failed)."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
            return True
        state = getattr(exc.orig, "sqlstate", None)
        if isinstance(state, str):
            return state.startswith(_OUTAGE_STATES)
        return isinstance(exc, sa_exc.OperationalError)
    return isinstance(exc, sa_exc.TimeoutError)  # the pool waited for a connection in vain


def is_data_error(exc: BaseException) -> bool:
    """A value the database cannot hold (a number past 64 bits, say): the request's fault."""
    return isinstance(exc, OverflowError | sa_exc.DataError)


class OutageLog:
    """One log line per outage, shared by the threads of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_failure: float | None = None

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            new = self._last_failure is None or now - self._last_failure > _QUIET_SECONDS
            self._last_failure = now
        if new:
            cause = type(getattr(exc, "orig", None) or exc).__name__
            log.error("database unavailable (%s); answering 503 until it is back", cause)

    def recovered(self) -> None:
        with self._lock:
            was_down = self._last_failure is not None
            self._last_failure = None
        if was_down:
            log.warning("database available again")

    @property
    def down(self) -> bool:
        with self._lock:
            return self._last_failure is not None


outage_log = OutageLog()
