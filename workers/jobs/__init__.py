"""The job store: the shared record of synthesis jobs, read and written by the web
process and by every worker process.

A job is named by the cache key of the audio it produces, so a request that is
already queued, running or done maps onto the existing job instead of a new one.
Two implementations share one interface, :class:`JobStore`:

``FileJobStore(root)``
    Embedded single-machine mode. Under ``<root>/jobs/ab/`` (``ab`` = the id's
    first two characters)::

        <id>.json           the record, replaced atomically (temp file, fsync, os.replace)
        <id>.payload.json   the request as accepted, so a lost job can be enqueued again
        <id>.lock           flock'd around every write; removed only by forget()
        <id>.lease          flock'd by the worker executing the job; removed on release
        .tmp-*              files being written

    ``<root>/jobs/first_audio.json``, the time-to-first-audio histogram of every
    worker (counts per bucket, count, sum), replaced whole under
    ``<root>/jobs/first_audio.lock``,

    and ``<root>/jobs/unfinished/<id>``, a marker per queued or working job holding
    its site (the index that sweeps and queue caps read), guarded by
    ``<root>/jobs/unfinished.lock`` while ``accept`` counts it.

    Readers take no lock: every file is replaced whole, so a reader sees the old
    record or the new one. Writers read-modify-write under the per-job lock, which
    is what makes ``accept`` and ``take_over_stale`` check-and-set operations and
    keeps a heartbeat from overwriting a concurrent take-over. A lock file is only
    ever unlinked by a holder of its lock, and a locker checks after locking that
    the path still names the file it locked (else it retries), so removing lock
    files never lets two holders in.

``RedisJobStore(client, prefix="listen:")``
    Several machines. The record is a hash ``<prefix>job:<id>``, the payload a
    JSON string ``<prefix>payload:<id>``, the execution lease ``<prefix>lease:<id>``,
    the index of unfinished jobs a hash ``<prefix>unfinished`` (id → site), and
    the time-to-first-audio histogram a hash ``<prefix>first_audio`` (no expiry),
    and ``<prefix>recent``, a sorted set of job ids scored by acceptance time
    that ``list_jobs`` pages through newest first (pruned of expired ids as it
    meets them, and by ``expire``). Every write is one Lua script, so
    check-and-set is atomic on the server, and every write sets the expiry of
    the record and payload (see below).

Expiry, the same rule in both stores: the record and payload of a ready or
failed job expire ``ttl_seconds`` (LISTEN_JOB_RECORD_SECONDS) after its last
write; a queued or working one only when it is *abandoned*: no write (no
heartbeat, no sweep's touch, no take-over) for ``abandoned_seconds``, which
``open_store`` sets to the larger of LISTEN_JOB_RECORD_SECONDS and
``ABANDON_STALE_FACTOR`` (30) times LISTEN_STALE_SECONDS. A live job is written at least
every few seconds while it runs and once per stale period while it waits (the
sweep touches a job it finds in the broker), so it never expires. Redis
expires keys by itself; the file store removes expired records when it lists
them (``list_jobs``, and ``expire``, which the workers' sweep calls every 10 minutes).

An operator's ``cancel`` fails a queued job at once (code ``cancelled``) and
flags a working one: the runner learns it from its next ``heartbeat`` and stops.

Times are wall-clock Unix seconds (``time.time``) because several machines
compare them. This package imports neither Flask nor Celery: ``common`` holds the
record and the interface, ``files`` and ``redis`` the two stores.
"""

from __future__ import annotations

from pathlib import Path

from workers.jobs.common import (
    ABANDON_STALE_FACTOR,
    CANCELLED,
    DEFAULT_TTL_S,
    FIRST_AUDIO_BOUNDS,
    STATUSES,
    Clock,
    Histogram,
    Job,
    JobStatus,
    JobStore,
    Lease,
    QueueFull,
)
from workers.jobs.files import FileJobStore
from workers.jobs.redis import REDIS_TIMEOUT_S, RedisJobStore, redis_client

__all__ = [
    "ABANDON_STALE_FACTOR",
    "CANCELLED",
    "DEFAULT_TTL_S",
    "FIRST_AUDIO_BOUNDS",
    "REDIS_TIMEOUT_S",
    "STATUSES",
    "Clock",
    "FileJobStore",
    "Histogram",
    "Job",
    "JobStatus",
    "JobStore",
    "Lease",
    "QueueFull",
    "RedisJobStore",
    "open_store",
    "redis_client",
]


def open_store(
    redis_url: str,
    data_dir: Path,
    *,
    timeout: float = REDIS_TIMEOUT_S,
    record_s: float = DEFAULT_TTL_S,
    stale_s: float = 0.0,
) -> JobStore:
    """A RedisJobStore when ``redis_url`` is set, else a FileJobStore under ``data_dir``.

    Finished records are kept ``record_s``; unfinished ones until abandoned (see
    the package). Redis calls fail with ``redis.TimeoutError`` after ``timeout``
    seconds of silence.
    """
    abandoned_s = max(record_s, ABANDON_STALE_FACTOR * stale_s)
    if redis_url:
        client = redis_client(redis_url, timeout=timeout)
        return RedisJobStore(client, ttl_seconds=record_s, abandoned_seconds=abandoned_s)
    return FileJobStore(data_dir, ttl_seconds=record_s, abandoned_seconds=abandoned_s)
