"""How many requests of one web process may wait on a job at once: in total and per client.

An event stream or a long poll holds a web thread for up to a minute. Left
unbounded, a few dozen of them take every thread of a gunicorn worker and
``/healthz`` (and everything else) waits behind them. ``Holds`` counts the
waits in progress; a request over either bound is not refused but answered
at once with the job's current state, so it costs a thread for milliseconds.

The counts are per process (each gunicorn worker has its own), which needs
no shared store and cannot leak a count when a process dies.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Holds:
    """Bounded counters of waits in progress: ``total`` in all, ``per_client`` per address."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._lock = threading.Lock()
        self._held = 0
        self._by_client: dict[str, int] = {}

    def try_acquire(self, client: str) -> Callable[[], None] | None:
        """A release function when ``client`` may wait now; ``None`` when over a bound.

        The release function may be called any number of times; only the
        first call counts.
        """
        with self._lock:
            mine = self._by_client.get(client, 0)
            if self._held >= self.total or mine >= self.per_client:
                return None
            self._held += 1
            self._by_client[client] = mine + 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._held -= 1
                left = self._by_client[client] - 1
                if left:
                    self._by_client[client] = left
                else:
                    del self._by_client[client]

        return release

    def held(self, client: str | None = None) -> int:
        """Waits in progress, of everyone or of one client."""
        with self._lock:
            return self._held if client is None else self._by_client.get(client, 0)
