"""A background thread that re-reads shared state (partner overrides, published crosswalks).

Why a thread rather than a check on read: the readers are hot paths (every token check, every
assertion), some inside request transactions. With the thread they only ever look at an in-memory
snapshot and never wait for a query, while the thread re-reads every ``interval`` seconds (with
read-only transactions, so it never holds SQLite's write lock); a change an administrator makes in
one process is therefore in force in every process within the bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["REFRESH_SECONDS", "PeriodicRefresh"]

log = logging.getLogger(__name__)

# A change is served by every process at most this long (plus one query) after it commits.
REFRESH_SECONDS = 2.0


class PeriodicRefresh:
    def __init__(self, interval: float, *tasks: Callable[[], object]) -> None:
        self._interval = interval
        self._tasks = tasks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def run_once(self) -> None:
        failed = False
        for task in self._tasks:
            try:
                task()
            except Exception as exc:  # keep refreshing: a database blip must not end the thread
                failed = True
                if not self._failing:  # one line per outage, not one per tick
                    log.warning("background refresh failed: %s", type(exc).__name__)
        if self._failing and not failed:
            log.info("background refresh recovered")
        self._failing = failed

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.run_once()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gateway-refresh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
