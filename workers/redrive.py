"""Finding jobs whose message is lost, and enqueueing exactly those again.

A queued or working job is *live* while any of these holds:

- a worker holds its lease (renewed by a heartbeat: see ``workers.runner``);
- its message waits in the broker's queue (looked up by task id, which is the
  job id: ``waiting_task_ids``);
- it showed a sign of life recently: ``updated`` within ``stale_s`` for a
  queued job (a message being handed to a worker, or a retry held in a
  worker's memory until its countdown ends) or within ``lease_s`` for a
  working one (a live runner always holds the lease while it works).

A job that is none of these is lost: ``redrive`` enqueues it again, once,
whoever else is looking (the job store's ``take_over_stale`` is a
check-and-set). Waiting in the queue is never "lost", so a job is only ever
failed by its own attempts. This module imports neither Flask nor Celery.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import redis

from workers.jobs import JobStore

log = logging.getLogger(__name__)

Enqueue = Callable[[str, Mapping[str, Any]], None]
Waiting = Callable[[], set[str]]

# kombu's Redis transport keeps priority p > 0 of queue q in the list "q\x06\x16p".
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _task_id(raw: bytes | str) -> str | None:
    try:
        message = json.loads(raw)
        headers = message.get("headers") or {}
        task_id = headers.get("id") or (message.get("properties") or {}).get("correlation_id")
    except (ValueError, AttributeError):
        return None  # not a message we can read; another part of the system quarantines it
    return task_id if isinstance(task_id, str) else None


def redis_waiting(client: redis.Redis, queue: str) -> Waiting:
    """Task ids of the messages waiting in ``queue`` of a Redis broker (not delivered ones)."""

    def waiting() -> set[str]:
        ids: set[str] = set()
        for suffix in _REDIS_PRIORITY_SUFFIXES:
            for raw in client.lrange(queue + suffix, 0, -1):
                task_id = _task_id(raw)
                if task_id is not None:
                    ids.add(task_id)
        return ids

    return waiting


def folder_waiting(folder: Path, queue: str) -> Waiting:
    """Task ids of the messages waiting in ``queue`` of kombu's filesystem broker."""
    suffix = f"{queue}.msg"

    def waiting() -> set[str]:
        ids: set[str] = set()
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return ids
        for name in names:
            # The transport's own test: what follows the first dot names the queue.
            if name.partition(".")[2] != suffix:
                continue
            try:
                task_id = _task_id((folder / name).read_bytes())
            except FileNotFoundError:
                continue  # delivered while we listed
            if task_id is not None:
                ids.add(task_id)
        return ids

    return waiting


def redrive(
    store: JobStore,
    job_ids: Iterable[str],
    *,
    now: float,
    stale_s: float,
    lease_s: float,
    waiting: Waiting,
    enqueue: Enqueue,
) -> list[str]:
    """Enqueue again each of ``job_ids`` that is lost (see the module); the ids it enqueued.

    The broker is asked (``waiting``) only when some job looks lost otherwise;
    a job found waiting there gets a fresh ``updated`` so that the next polls
    do not ask again for ``stale_s``. ``enqueue`` errors propagate; the job
    then looks lost again after ``stale_s`` and is retried.
    """
    suspects: list[tuple[str, float]] = []
    for job_id in job_ids:
        job = store.get(job_id)
        if job is None or job.status not in ("queued", "working"):
            continue
        cutoff = now - (stale_s if job.status == "queued" else lease_s)
        if job.updated >= cutoff or store.lease_held(job_id):
            continue
        suspects.append((job_id, cutoff))
    if not suspects:
        return []
    in_broker = waiting()
    enqueued: list[str] = []
    for job_id, cutoff in suspects:
        if job_id in in_broker:
            store.touch(job_id)
            continue
        payload = store.payload(job_id)
        if payload is None:
            continue  # forgotten since we looked
        if store.take_over_stale(job_id, cutoff):
            log.warning("job %s had no message and no worker; enqueued again", job_id)
            enqueue(job_id, payload)
            enqueued.append(job_id)
    return enqueued
