"""Finding jobs whose message is lost, and enqueueing exactly those again.

A queued or working job is *live* while any of these holds:

- a worker holds its lease (renewed by a heartbeat: see ``workers.runner``);
- its message waits in the broker's queue (looked up by task id, which is the
  job id: ``Broker.waiting``);
- it showed a sign of life recently: ``updated`` within ``stale_s`` for a
  queued job (a message being handed to a worker, or a retry held in a
  worker's memory until its countdown ends) or within ``lease_s`` for a
  working one (a live runner always holds the lease while it works).

A job that is none of these is lost: ``redrive`` enqueues it again, once,
whoever else is looking (the job store's ``take_over_stale`` is a
check-and-set). Waiting in the queue is never "lost", so a job is only ever
failed by its own attempts. This module imports neither Flask nor Celery, nor
the web side: the brokers it asks are given to it (``listen_service.brokers``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

from workers.jobs import JobStore

log = logging.getLogger(__name__)

Enqueue = Callable[[str, Mapping[str, Any]], None]


class Broker(Protocol):
    """What re-driving needs to know of the broker; task ids are job ids."""

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        """Those of ``job_ids`` with a message still to be delivered (a broker may
        also count one taken by a worker and not yet acknowledged)."""

    def drop_delivered(self, job_id: str) -> None:
        """Forget deliveries of ``job_id`` to workers that are gone, so none comes back later."""


def redrive(
    store: JobStore,
    job_ids: Iterable[str],
    *,
    now: float,
    stale_s: float,
    lease_s: float,
    broker: Broker,
    enqueue: Enqueue,
) -> list[str]:
    """Enqueue again each of ``job_ids`` that is lost (see the module); the ids it enqueued.

    The broker is asked only about jobs that look lost otherwise; a job found
    waiting there gets a fresh ``updated``, so the next polls do not ask again
    for ``stale_s``. ``enqueue`` errors propagate; the job then looks lost
    again after ``stale_s`` and is retried.
    """
    suspects: dict[str, float] = {}
    for job_id in job_ids:
        job = store.get(job_id)
        if job is None or job.status not in ("queued", "working"):
            continue
        cutoff = now - (stale_s if job.status == "queued" else lease_s)
        if job.updated >= cutoff or store.lease_held(job_id):
            continue
        suspects[job_id] = cutoff
    if not suspects:
        return []
    in_broker = broker.waiting(list(suspects))
    enqueued: list[str] = []
    for job_id, cutoff in suspects.items():
        if job_id in in_broker:
            store.touch(job_id)
            continue
        payload = store.payload(job_id)
        if payload is None:
            continue  # forgotten since we looked
        if store.take_over_stale(job_id, cutoff):
            log.warning("job %s had no message and no worker; enqueued again", job_id)
            broker.drop_delivered(job_id)
            enqueue(job_id, payload)
            enqueued.append(job_id)
    return enqueued
