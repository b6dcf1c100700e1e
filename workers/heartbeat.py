"""Each pool process of a Celery worker tells the registry it is alive (``workers.registry``).

From Celery's signals: the main process notes its node name, concurrency and
lanes once set up (``celeryd_after_setup``); each pool process, forked from it,
then writes its entry at start, every ``LISTEN_WORKER_HEARTBEAT_SECONDS`` from
a thread of its own, when a synthesis task starts (the job and since when) and
when it ends (cleared, and its outcome kept for ``/healthz``), and removes it
at a clean shutdown. A pool process whose main process died stops beating, so
its entry goes stale even if the process lingers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from celery.signals import (
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)
from flask import Flask

from workers.registry import WorkerEntry, WorkerRegistry

log = logging.getLogger(__name__)

TASK = "listen.synthesize"
# Outcomes of the task that say how the service is doing (see ``_outcome``).
_DONE = ("cached", "synthesised")


def _outcome(state: str | None, retval: object) -> bool | None:
    """True: a job made (or found) its audio; False: the task gave up on it (after
    its retries); None: not an end that speaks of the service (a retry, a wait
    behind another process, a job forgotten, or bad input, the client's fault)."""
    if state == "FAILURE":
        return False
    if state == "SUCCESS" and retval in _DONE:
        return True
    return None


class Beacon:
    """This process's entry, kept in the registry (thread-safe)."""

    def __init__(self, registry: WorkerRegistry, entry: WorkerEntry, window_s: float) -> None:
        self.registry = registry
        self.entry = entry
        self.window_s = window_s
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def beat(self, **changes: Any) -> None:
        with self._lock:
            self.entry = replace(self.entry, heartbeat=time.time(), **changes)
            try:
                self.registry.put(self.entry)
            except Exception:  # the store blipped: the next beat tries again
                log.warning("could not write this worker's heartbeat", exc_info=True)

    def ended(self, ok: bool | None) -> None:
        now = time.time()
        with self._lock:
            if ok is None:
                self.entry = replace(self.entry, job=None, job_since=None)
            else:
                self.entry = self.entry.ended(now, ok, since=now - self.window_s)
        self.beat()

    def run(self, every: float, parent: int) -> None:
        while not self.stop.wait(every):
            if os.getppid() != parent:
                log.warning("this worker's main process is gone; no more heartbeats")
                return
            self.beat()


def install(app: Flask) -> None:
    """Connect the signals that keep ``app.extensions["listen_workers"]`` up to date."""
    node: dict[str, Any] = {}
    beacon: list[Beacon] = []

    @celeryd_after_setup.connect(weak=False)  # type: ignore[untyped-decorator]
    def noted(sender: str, instance: Any, **_: Any) -> None:
        node["name"] = str(sender)
        node["concurrency"] = int(instance.concurrency)
        node["lanes"] = tuple(instance.app.amqp.queues.consume_from)

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def started(**_: Any) -> None:
        now = time.time()
        entry = WorkerEntry(
            node=node.get("name", f"celery@{socket.gethostname()}"),
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=node.get("concurrency", 1),
            lanes=node.get("lanes", ()),
            started=now,
            heartbeat=now,
        )
        b = Beacon(
            app.extensions["listen_workers"], entry, app.config["LISTEN_HEALTH_WINDOW_SECONDS"]
        )
        beacon.append(b)
        b.beat()
        every = app.config["LISTEN_WORKER_HEARTBEAT_SECONDS"]
        threading.Thread(
            target=b.run, args=(every, os.getppid()), name="listen-heartbeat", daemon=True
        ).start()

    @task_prerun.connect(weak=False)  # type: ignore[untyped-decorator]
    def job_started(task: Any, args: Any = (), kwargs: Any = None, **_: Any) -> None:
        if beacon and task.name == TASK:
            job = (kwargs or {}).get("job_id") or (args[0] if args else None)
            beacon[0].beat(job=job, job_since=time.time())

    @task_postrun.connect(weak=False)  # type: ignore[untyped-decorator]
    def job_ended(task: Any, retval: Any = None, state: str | None = None, **_: Any) -> None:
        if beacon and task.name == TASK:
            beacon[0].ended(_outcome(state, retval))

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def stopped(**_: Any) -> None:
        if beacon:
            beacon[0].stop.set()
            try:
                app.extensions["listen_workers"].remove(beacon[0].entry.id)
            except Exception:  # it goes stale instead, and is pruned
                log.warning("could not remove this worker's entry", exc_info=True)
