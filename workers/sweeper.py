"""The workers' own sweep for lost jobs, so recovery never waits for a client to poll.

Every worker runs one: a thread in its main process (never in the pool
processes, which are busy synthesising), started when the worker is ready —
so a worker restarted after a crash sweeps at once — and then every
``LISTEN_SWEEP_SECONDS``. A thread rather than ``celery beat``: beat must run
exactly once per deployment and keeps schedule state, which the embedded mode
has nowhere to share; many sweepers are harmless because the job store's
check-and-set lets one of them win each lost job.

It reads only the index of unfinished jobs, never every record ever made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from flask import Flask

from workers.jobs import FileJobStore, JobStore
from workers.redrive import redrive

log = logging.getLogger(__name__)

# Expired job records (see workers.jobs) are removed at a worker's start and then
# this often: the file store reads every record to find them.
EXPIRE_EVERY_S = 600.0

# The pool's processes are forked from this process, also while a sweep runs.
# A child keeps copies of every open file, and an flock lasts while any copy
# is open: a file-store lock held by the sweep at the fork would stay locked
# for the child's whole life. So a fork waits for a file-store sweep to end.
_FORK_GUARD = threading.Lock()
os.register_at_fork(
    before=_FORK_GUARD.acquire,
    after_in_parent=_FORK_GUARD.release,
    after_in_child=_FORK_GUARD.release,
)


def sweep(app: Flask) -> list[str]:
    """Enqueue again every lost unfinished job of ``app``'s store; the ids enqueued."""
    store: JobStore = app.extensions["listen_jobs"]
    return redrive(
        store,
        store.unfinished(),
        now=time.time(),
        stale_s=app.config["LISTEN_STALE_SECONDS"],
        lease_s=app.config["LISTEN_LEASE_SECONDS"],
        broker=app.extensions["listen_broker"],
        enqueue=app.extensions["listen_enqueue"],
    )


def _run(app: Flask, stop: threading.Event) -> None:
    every: float = app.config["LISTEN_SWEEP_SECONDS"]
    uses_flock = isinstance(app.extensions["listen_jobs"], FileJobStore)
    expired_at = -EXPIRE_EVERY_S
    while True:
        try:
            with _FORK_GUARD if uses_flock else contextlib.nullcontext():
                enqueued = sweep(app)
                if time.monotonic() - expired_at >= EXPIRE_EVERY_S:
                    expired_at = time.monotonic()
                    app.extensions["listen_jobs"].expire()
        except Exception:  # the store or broker is down: try again next time
            log.warning("the sweep for lost jobs failed", exc_info=True)
        else:
            if enqueued:
                log.warning("sweep: enqueued %d lost job(s) again", len(enqueued))
        if every <= 0 or stop.wait(every):
            return


def install(app: Flask) -> None:
    """Run the sweep in this process once its Celery worker is ready, until it shuts down."""
    in_main_process(app, _run, "listen-sweep")


def in_main_process(
    app: Flask, target: Callable[[Flask, threading.Event], None], name: str
) -> None:
    """Run ``target(app, stop)`` in a thread of this worker's main process from when it is
    ready; ``stop`` is set when it shuts down."""
    stop = threading.Event()

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def start(**_: Any) -> None:
        threading.Thread(target=target, args=(app, stop), name=name, daemon=True).start()

    @worker_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def finish(**_: Any) -> None:
        stop.set()
