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
    the time-to-first-audio histogram a hash ``<prefix>first_audio`` (no expiry).
    Every write is one Lua script, so check-and-set is atomic on the server, and
    every write refreshes the expiry of the record and payload (``ttl_seconds``,
    7 days by default) so that abandoned jobs age out.

Times are wall-clock Unix seconds (``time.time``) because several machines
compare them. This package imports neither Flask nor Celery: ``common`` holds the
record and the interface, ``files`` and ``redis`` the two stores.
"""

from __future__ import annotations

from pathlib import Path

from workers.jobs.common import (
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


def open_store(redis_url: str, data_dir: Path, *, timeout: float = REDIS_TIMEOUT_S) -> JobStore:
    """A RedisJobStore when ``redis_url`` is set, else a FileJobStore under ``data_dir``.

    Redis calls fail with ``redis.TimeoutError`` after ``timeout`` seconds of silence.
    """
    if redis_url:
        return RedisJobStore(redis_client(redis_url, timeout=timeout))
    return FileJobStore(data_dir)
