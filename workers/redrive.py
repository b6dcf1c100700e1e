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
failed by its own attempts. This module imports neither Flask nor Celery.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import redis

from workers.jobs import JobStore

log = logging.getLogger(__name__)

Enqueue = Callable[[str, Mapping[str, Any]], None]


class Broker(Protocol):
    """What re-driving needs to know of the broker; task ids are job ids."""

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        """Those of ``job_ids`` with a message waiting in the queue (not yet delivered)."""

    def drop_delivered(self, job_id: str) -> None:
        """Forget deliveries of ``job_id`` to workers that are gone, so none comes back later."""


# kombu's Redis transport keeps priority p > 0 of queue q in the list "q\x06\x16p",
# and each delivered, unacknowledged message in the hash "unacked" (tag →
# [message, exchange, routing key]) indexed by the sorted set "unacked_index".
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

# KEYS: the queue's lists. ARGV: job ids. Those of ARGV with a message in the
# lists; decoded on the server, so article bodies never cross the network.
_WAITING = """
local wanted, found = {}, {}
for _, id in ipairs(ARGV) do wanted[id] = true end
for _, key in ipairs(KEYS) do
  for _, raw in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local ok, message = pcall(cjson.decode, raw)
    if ok and type(message) == 'table' and type(message.headers) == 'table' then
      local id = message.headers.id
      if type(id) == 'string' and wanted[id] then
        found[#found + 1] = id
        wanted[id] = nil
      end
    end
  end
end
return found
"""

# KEYS: unacked, unacked_index. ARGV: job id. Removes the job's deliveries.
_DROP_DELIVERED = """
local entries, dropped = redis.call('HGETALL', KEYS[1]), 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and type(entry) == 'table' and type(entry[1]) == 'table'
      and type(entry[1].headers) == 'table' and entry[1].headers.id == ARGV[1] then
    redis.call('HDEL', KEYS[1], entries[i])
    redis.call('ZREM', KEYS[2], entries[i])
    dropped = dropped + 1
  end
end
return dropped
"""


class RedisBroker:
    """A Redis broker, as kombu's Redis transport lays it out."""

    def __init__(self, client: redis.Redis, queue: str) -> None:
        self._queues = [queue + suffix for suffix in _REDIS_PRIORITY_SUFFIXES]
        self._waiting = client.register_script(_WAITING)
        self._drop = client.register_script(_DROP_DELIVERED)

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        if not job_ids:
            return set()
        found = self._waiting(keys=self._queues, args=list(job_ids))
        return {v.decode() if isinstance(v, bytes) else str(v) for v in found}

    def drop_delivered(self, job_id: str) -> None:
        # A lost job's delivery belongs to a dead worker (a live one holds the
        # lease, or touched the job lately); left alone, kombu would put it back
        # after its visibility timeout: a second message for the job.
        self._drop(keys=["unacked", "unacked_index"], args=[job_id])


class FolderBroker:
    """kombu's filesystem broker: one file per waiting message in ``folder``."""

    def __init__(self, folder: Path, queue: str) -> None:
        self._folder = folder
        self._suffix = f"{queue}.msg"

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        wanted, found = set(job_ids), set[str]()
        try:
            names = os.listdir(self._folder) if wanted else []
        except FileNotFoundError:
            return found
        for name in names:
            # The transport's own test: what follows the first dot names the queue.
            if name.partition(".")[2] != self._suffix:
                continue
            try:
                task_id = _task_id((self._folder / name).read_bytes())
            except FileNotFoundError:
                continue  # delivered while we listed
            if task_id in wanted:
                found.add(task_id)
        return found

    def drop_delivered(self, job_id: str) -> None:
        """Nothing to drop: a delivered message lives only in its worker's memory."""


class OpaqueBroker:
    """A broker we cannot look into: every silent job counts as lost, so a lost one is
    re-driven at the price of an occasional duplicate (which runs once anyway)."""

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        return set()

    def drop_delivered(self, job_id: str) -> None:
        pass


def _task_id(raw: bytes) -> str | None:
    try:
        task_id = (json.loads(raw).get("headers") or {}).get("id")
    except (ValueError, AttributeError):
        return None  # half-written or foreign: not a message we can read
    return task_id if isinstance(task_id, str) else None


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
