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
    and the index of unfinished jobs a hash ``<prefix>unfinished`` (id → site).
    Every write is one Lua script, so check-and-set is atomic on the server, and
    every write refreshes the expiry of the record and payload (``ttl_seconds``,
    7 days by default) so that abandoned jobs age out.

Times are wall-clock Unix seconds (``time.time``) because several machines
compare them. This module imports neither Flask nor Celery.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self, get_args

import redis

from audio_cache import is_valid_key

JobStatus = Literal["queued", "working", "ready", "failed"]
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
DEFAULT_TTL_S = 7 * 24 * 3600.0
"""How long a Redis job record outlives its last write."""

Clock = Callable[[], float]

REDIS_TIMEOUT_S = 3.0
"""How long a Redis call may wait for a connection or an answer. Without it a
Redis that stops answering (a partition, not a refusal) blocks a web request,
/healthz or a worker's heartbeat for ever instead of failing as unreachable."""


@dataclass(frozen=True, slots=True)
class Job:
    """One synthesis job as last written by any process."""

    id: str
    status: JobStatus
    progress: float
    error: dict[str, str] | None
    duration_s: float | None
    created: float
    updated: float
    attempts: int
    """How many times a worker started it since it was accepted."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the API's job representation)."""
        return {
            "id": self.id,
            "status": self.status,
            "progress": self.progress,
            "error": dict(self.error) if self.error is not None else None,
            "duration_s": self.duration_s,
            "created": self.created,
            "updated": self.updated,
            "attempts": self.attempts,
        }


class QueueFull(Exception):
    """``accept`` refused a job: ``scope`` ("site" or "all") has ``limit`` unfinished already."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{limit} unfinished jobs already ({scope})")
        self.scope = scope
        self.limit = limit


class Lease(ABC):
    """An execution lock on one job; a context manager that releases on exit."""

    def __init__(self, job_id: str, owner: str) -> None:
        self.job_id = job_id
        self.owner = owner

    @abstractmethod
    def renew(self) -> bool:
        """Extend the lease; False if it is no longer held (released or expired and taken)."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up; harmless if already released or lost."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class JobStore(Protocol):
    """What the web side and the workers need; both stores below satisfy it.

    Every method raises ``ValueError`` for an id that is not a 64-hex cache key.
    ``start``, ``heartbeat``, ``finish`` and ``fail`` raise ``KeyError`` when
    there is no such job (it was forgotten or expired): they never recreate one.
    """

    def get(self, job_id: str) -> Job | None:
        """The job, or None if there is none."""

    def payload(self, job_id: str) -> dict[str, Any] | None:
        """The request stored by the accepting ``accept`` call, or None."""

    def accept(
        self,
        job_id: str,
        payload: Mapping[str, Any],
        *,
        site: str = "",
        site_limit: int = 0,
        total_limit: int = 0,
        audio_gone: bool = False,
    ) -> bool:
        """Create a queued job, or reset a failed one; attempts=0 either way.

        With ``audio_gone`` (the caller found no audio for it, e.g. evicted) a
        ready job is reset too, in the same atomic step: polls racing to do so
        never forget or double-enqueue each other's acceptance.
        True only for the one caller that did so, which must enqueue the task;
        False while the job is queued, working or ready. ``payload`` must be
        JSON-serialisable; it replaces any stored payload. The job joins the
        unfinished index under ``site``. Raises ``QueueFull`` instead when
        ``site`` already has ``site_limit`` unfinished jobs, or the index holds
        ``total_limit`` (0 = no cap); checked and added in one atomic step.
        """

    def take_over_stale(self, job_id: str, stale_before: float) -> bool:
        """Requeue a queued or working job whose ``updated`` is before ``stale_before``.

        Sets it queued, progress 0, updated=now (attempts unchanged: only a
        start is an attempt). True only for the one caller that did so, which
        must enqueue the task again.
        """

    def touch(self, job_id: str) -> bool:
        """Refresh ``updated`` of a queued or working job (seen waiting); False otherwise."""

    def requeue(self, job_id: str, *, wait: float = 0.0) -> bool:
        """Set a queued or working job back to queued (progress 0, updated=now+wait).

        For the worker that gives a job up to retry it in ``wait`` seconds; False
        if finished or gone. The retry waits in the worker's memory, not in the
        broker, so ``updated`` is dated to when it runs: the job does not look
        lost to a re-drive meanwhile, even with LISTEN_STALE_SECONDS below the
        retry's backoff.
        """

    def start(self, job_id: str, worker: str) -> int:
        """Mark the job working (progress 0) by ``worker``; the attempt count, now +1."""

    def heartbeat(self, job_id: str, progress: float) -> None:
        """Record progress (0..1) and a sign of life; cheap enough for every sentence."""

    def finish(self, job_id: str, duration_s: float) -> None:
        """Mark the job ready (progress 1) with the audio's duration."""

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Mark the job failed with an error code and message; ``accept`` may retry it."""

    def forget(self, job_id: str) -> None:
        """Remove the job and its payload (not a held lease). Harmless if absent."""

    def lease(self, job_id: str, owner: str, ttl: float) -> Lease | None:
        """Take the execution lock, or None if another live holder has it. Not reentrant."""

    def lease_held(self, job_id: str) -> bool:
        """Whether a live process holds the job's lease (Redis: until its TTL lapses)."""

    def lease_left(self, job_id: str) -> float | None:
        """Seconds until the lease lapses unless renewed: 0 if not held, None if it
        lasts as long as its holder lives (files)."""

    def unfinished(self) -> list[str]:
        """Ids in the unfinished index; entries whose job is finished or gone are pruned."""

    def counts(self) -> dict[str, int]:
        """Number of jobs per status, every status present (approximate for Redis)."""


def open_store(redis_url: str, data_dir: Path, *, timeout: float = REDIS_TIMEOUT_S) -> JobStore:
    """A RedisJobStore when ``redis_url`` is set, else a FileJobStore under ``data_dir``.

    Redis calls fail with ``redis.TimeoutError`` after ``timeout`` seconds of silence.
    """
    if redis_url:
        return RedisJobStore(redis_client(redis_url, timeout=timeout))
    return FileJobStore(data_dir)


def redis_client(url: str, *, timeout: float = REDIS_TIMEOUT_S) -> redis.Redis:
    """A client whose calls give up after ``timeout`` seconds of silence (see REDIS_TIMEOUT_S)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        # A connection idle for this long is checked before use, so one that
        # died quietly (a restarted Redis, a NAT timeout) fails fast, not mid-call.
        health_check_interval=30,
    )


def _check_id(job_id: str) -> str:
    if not is_valid_key(job_id):
        raise ValueError(f"invalid job id: {job_id!r}")
    return job_id


def _check_fraction(progress: float) -> float:
    if not 0.0 <= progress <= 1.0:  # also rejects NaN
        raise ValueError(f"progress must be within 0..1, not {progress!r}")
    return float(progress)


def _check_duration(duration_s: float) -> float:
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise ValueError(f"duration_s must be a finite number >= 0, not {duration_s!r}")
    return float(duration_s)


def _check_ttl(ttl: float) -> float:
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a finite number > 0, not {ttl!r}")
    return float(ttl)


def _dump_payload(payload: Mapping[str, Any]) -> bytes:
    text = json.dumps(dict(payload), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: \u-escape them so the bytes stay valid UTF-8 for every reader.
        return json.dumps(dict(payload), allow_nan=False).encode("ascii")


def _load_payload(data: bytes | str) -> dict[str, Any]:
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("stored payload is not a JSON object")
    return value


def _status(value: object) -> JobStatus:
    if value not in STATUSES:
        raise ValueError(f"unknown job status in store: {value!r}")
    return value


# --------------------------------------------------------------------------- files


def _flock(path: Path, *, blocking: bool) -> int | None:
    """Open ``path`` (creating it) and flock it exclusively; the fd, or None if busy.

    Retries when the path was unlinked or replaced between open and lock, so the
    returned fd's lock is on the file the path names now.
    """
    flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, flags)
            held = os.fstat(fd)
            current = os.stat(path)
        except BlockingIOError:
            os.close(fd)
            return None
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
            return fd
        os.close(fd)


def _write_json(path: Path, value: Any, *, durable: bool = True) -> None:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    fd, name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


class _FileLease(Lease):
    def __init__(self, job_id: str, owner: str, path: Path, fd: int) -> None:
        super().__init__(job_id, owner)
        self._path = path
        self._fd: int | None = fd

    def renew(self) -> bool:
        # The kernel holds the lock until the fd closes or the process dies: no expiry.
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self._path.unlink(missing_ok=True)  # we hold the lock, so it is our file
        finally:
            os.close(self._fd)
            self._fd = None


class FileJobStore:
    """Job records as JSON files under ``<root>/jobs``; safe across processes on one machine."""

    def __init__(self, root: Path | str, *, clock: Clock = time.time) -> None:
        self.root = Path(root) / "jobs"
        self._clock = clock

    def _path(self, job_id: str, suffix: str) -> Path:
        return self.root / _check_id(job_id)[:2] / f"{job_id}{suffix}"

    @property
    def _index(self) -> Path:
        return self.root / "unfinished"

    def _read(self, job_id: str) -> dict[str, Any] | None:
        try:
            data = self._path(job_id, ".json").read_bytes()
        except FileNotFoundError:
            return None
        record: dict[str, Any] = json.loads(data)
        return record

    @contextlib.contextmanager
    def _locked(self, job_id: str) -> Iterator[Path]:
        lock = self._path(job_id, ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = _flock(lock, blocking=True)
        assert fd is not None  # a blocking flock returns only when held
        try:
            yield lock
        finally:
            os.close(fd)

    def _update(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        durable: bool = True,
        finished: bool = False,
    ) -> dict[str, Any]:
        with self._locked(job_id):
            record = self._read(job_id)
            if record is None:
                raise KeyError(job_id)
            record.update(changes, updated=self._clock())
            _write_json(self._path(job_id, ".json"), record, durable=durable)
            if finished:
                (self._index / job_id).unlink(missing_ok=True)
            return record

    def _refresh(self, job_id: str, changes: Mapping[str, Any], *, wait: float = 0.0) -> bool:
        """Apply ``changes`` (and updated=now+wait) to a queued or working job only."""
        with self._locked(job_id):
            record = self._read(job_id)
            if record is None or record["status"] not in ("queued", "working"):
                return False
            record.update(changes, updated=self._clock() + wait)
            _write_json(self._path(job_id, ".json"), record, durable=False)
            return True

    def _count_unfinished(self, site: str) -> tuple[int, int]:
        """(jobs of ``site``, all jobs) in the index; the caller holds the index lock."""
        mine = total = 0
        for marker in self._index.iterdir():
            if marker.name.startswith("."):
                continue
            total += 1
            with contextlib.suppress(FileNotFoundError):  # finished while we counted
                mine += marker.read_bytes() == site.encode()
        return mine, total

    def get(self, job_id: str) -> Job | None:
        record = self._read(job_id)
        if record is None:
            return None
        return Job(
            id=job_id,
            status=_status(record["status"]),
            progress=float(record["progress"]),
            error=record.get("error"),
            duration_s=record.get("duration_s"),
            created=float(record["created"]),
            updated=float(record["updated"]),
            attempts=int(record["attempts"]),
        )

    def payload(self, job_id: str) -> dict[str, Any] | None:
        try:
            return _load_payload(self._path(job_id, ".payload.json").read_bytes())
        except FileNotFoundError:
            return None

    def accept(
        self,
        job_id: str,
        payload: Mapping[str, Any],
        *,
        site: str = "",
        site_limit: int = 0,
        total_limit: int = 0,
        audio_gone: bool = False,
    ) -> bool:
        data = _dump_payload(payload)
        resettable = ("failed", "ready") if audio_gone else ("failed",)
        with self._locked(job_id):
            record = self._read(job_id)
            if record is not None and record["status"] not in resettable:
                return False
            self._index.mkdir(parents=True, exist_ok=True)
            # One accept at a time counts and joins the index, so caps hold exactly.
            index_lock = _flock(self.root / "unfinished.lock", blocking=True)
            assert index_lock is not None
            try:
                mine, total = self._count_unfinished(site)
                if site_limit and mine >= site_limit:
                    raise QueueFull("site", site_limit)
                if total_limit and total >= total_limit:
                    raise QueueFull("all", total_limit)
                # Index first, payload next: the record is the commit marker, so a
                # queued job always has a payload and a marker (a marker without
                # a record is pruned by unfinished()).
                _write_json(self._index / job_id, site.encode())
            finally:
                os.close(index_lock)
            now = self._clock()
            _write_json(self._path(job_id, ".payload.json"), data)
            _write_json(
                self._path(job_id, ".json"),
                {
                    "status": "queued",
                    "progress": 0.0,
                    "error": None,
                    "duration_s": None,
                    "created": now if record is None else record["created"],
                    "updated": now,
                    "attempts": 0,
                    "worker": None,
                },
            )
            return True

    def take_over_stale(self, job_id: str, stale_before: float) -> bool:
        with self._locked(job_id):
            record = self._read(job_id)
            if record is None or record["status"] not in ("queued", "working"):
                return False
            if float(record["updated"]) >= stale_before:
                return False
            record.update(status="queued", progress=0.0, updated=self._clock(), worker=None)
            _write_json(self._path(job_id, ".json"), record)
            return True

    def touch(self, job_id: str) -> bool:
        return self._refresh(job_id, {})

    def requeue(self, job_id: str, *, wait: float = 0.0) -> bool:
        changes = {"status": "queued", "progress": 0.0, "worker": None}
        return self._refresh(job_id, changes, wait=wait)

    def start(self, job_id: str, worker: str) -> int:
        with self._locked(job_id):
            record = self._read(job_id)
            if record is None:
                raise KeyError(job_id)
            attempts = int(record["attempts"]) + 1
            record.update(
                status="working",
                progress=0.0,
                worker=worker,
                attempts=attempts,
                updated=self._clock(),
            )
            _write_json(self._path(job_id, ".json"), record)
            return attempts

    def heartbeat(self, job_id: str, progress: float) -> None:
        # No fsync: a heartbeat lost in a power cut only makes the job look stale
        # sooner, and an fsync per sentence would cost more than the sentence.
        self._update(job_id, {"progress": _check_fraction(progress)}, durable=False)

    def finish(self, job_id: str, duration_s: float) -> None:
        changes = {"status": "ready", "progress": 1.0, "duration_s": _check_duration(duration_s)}
        self._update(job_id, {**changes, "error": None}, finished=True)

    def fail(self, job_id: str, code: str, message: str) -> None:
        error = {"code": str(code), "message": str(message)}
        changes = {"status": "failed", "error": error, "duration_s": None}
        self._update(job_id, changes, finished=True)

    def forget(self, job_id: str) -> None:
        with self._locked(job_id) as lock:
            (self._index / job_id).unlink(missing_ok=True)
            self._path(job_id, ".json").unlink(missing_ok=True)
            self._path(job_id, ".payload.json").unlink(missing_ok=True)
            lock.unlink()  # while holding it: waiters notice and lock a fresh file
        lease = self._path(job_id, ".lease")
        if lease.exists():  # left behind by a holder that died; a held one stays
            fd = _flock(lease, blocking=False)
            if fd is not None:
                lease.unlink(missing_ok=True)
                os.close(fd)

    def lease(self, job_id: str, owner: str, ttl: float) -> Lease | None:
        _check_ttl(ttl)  # unused: the OS drops the lock when its holder dies
        path = self._path(job_id, ".lease")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _flock(path, blocking=False)
        if fd is None:
            return None
        # The owner's name is for operators only. The lock needs no disk space,
        # and a failed write must not leak an fd that holds it for ever.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, owner.encode())
        return _FileLease(job_id, owner, path, fd)

    def lease_held(self, job_id: str) -> bool:
        path = self._path(job_id, ".lease")
        if not path.exists():
            return False
        # Only a live process can hold the flock; a dead holder's lock is gone.
        fd = _flock(path, blocking=False)
        if fd is None:
            return True
        os.close(fd)  # the file stays: a later lease() truncates and reuses it
        return False

    def lease_left(self, job_id: str) -> float | None:
        return None if self.lease_held(job_id) else 0.0

    def unfinished(self) -> list[str]:
        try:
            names = [n for n in os.listdir(self._index) if not n.startswith(".")]
        except FileNotFoundError:
            return []
        ids = []
        for job_id in names:
            if not is_valid_key(job_id):
                continue
            record = self._read(job_id)
            if record is not None and record["status"] in ("queued", "working"):
                ids.append(job_id)
                continue
            with self._locked(job_id):  # prune, unless accept() revived it meanwhile
                record = self._read(job_id)
                if record is None or record["status"] not in ("queued", "working"):
                    (self._index / job_id).unlink(missing_ok=True)
        return ids

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for path in self.root.glob("*/*.json"):
            name = path.name
            if name.startswith(".") or name.endswith(".payload.json"):
                continue
            try:
                record = json.loads(path.read_bytes())
            except FileNotFoundError:
                continue  # forgotten while we listed
            counts[_status(record["status"])] += 1
        return counts


# --------------------------------------------------------------------------- Redis

# KEYS: job, payload, index. ARGV: now, ttl_ms, payload, job id, site, site_limit,
# total_limit, audio_gone (1: a ready job may be reset too).
# Returns 1 (accepted), 0 (alive or done), -1 (the site is full), -2 (the index is full).
_ACCEPT = """
local status = redis.call('HGET', KEYS[1], 'status')
local resettable = status == 'failed' or (status == 'ready' and ARGV[8] == '1')
if status and not resettable then return 0 end
local site_limit, total_limit = tonumber(ARGV[6]), tonumber(ARGV[7])
if site_limit > 0 then
  local mine = 0
  for _, site in ipairs(redis.call('HVALS', KEYS[3])) do
    if site == ARGV[5] then mine = mine + 1 end
  end
  if mine >= site_limit then return -1 end
end
if total_limit > 0 and redis.call('HLEN', KEYS[3]) >= total_limit then return -2 end
if status then
  redis.call('HDEL', KEYS[1], 'error_code', 'error_message', 'duration_s', 'worker')
else
  redis.call('HSET', KEYS[1], 'created', ARGV[1])
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'progress', 0, 'updated', ARGV[1], 'attempts', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
return 1
"""

# KEYS: job, payload. ARGV: stale_before (or '' for any), now, ttl_ms, n, field/value pairs.
# Changes a queued or working job only.
_REFRESH = """
local rec = redis.call('HMGET', KEYS[1], 'status', 'updated')
if rec[1] ~= 'queued' and rec[1] ~= 'working' then return 0 end
if ARGV[1] ~= '' and (tonumber(rec[2]) or 0) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('HDEL', KEYS[1], 'worker')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: job, payload, index. ARGV: ttl_ms, job id, finished (0/1), count ('attempts' or ''),
# n, n field names to delete, then field/value pairs. Updates only an existing
# record: a late heartbeat must not resurrect a forgotten job. Returns the
# counted field's new value, or 1; 0 when there is no record.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[5])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 6, 5 + n)) end
redis.call('HSET', KEYS[1], unpack(ARGV, 6 + n))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if ARGV[3] == '1' then redis.call('HDEL', KEYS[3], ARGV[2]) end
if ARGV[4] ~= '' then return redis.call('HINCRBY', KEYS[1], ARGV[4], 1) end
return 1
"""

# KEYS: job, index. ARGV: job id. Drops an index entry whose job is finished or gone.
_PRUNE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'working' then return 0 end
return redis.call('HDEL', KEYS[2], ARGV[1])
"""

# KEYS: lease. ARGV: owner, ttl_ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lease. ARGV: owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_Arg = bytes | str | int | float


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _glob_escape(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)


class _RedisLease(Lease):
    def __init__(self, store: RedisJobStore, job_id: str, owner: str, ttl: float) -> None:
        super().__init__(job_id, owner)
        self._store = store
        self._ttl_ms = _ms(ttl)
        self._held = True

    def renew(self) -> bool:
        if self._held:
            key = self._store.key("lease", self.job_id)
            self._held = bool(self._store._renew(keys=[key], args=[self.owner, self._ttl_ms]))
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._store._release(keys=[self._store.key("lease", self.job_id)], args=[self.owner])


class RedisJobStore:
    """Job records in Redis, shared by every machine; ``client`` is the explicit connection."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "listen:",
        *,
        ttl_seconds: float = DEFAULT_TTL_S,
        clock: Clock = time.time,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = _ms(_check_ttl(ttl_seconds))
        self._clock = clock
        self._accept = client.register_script(_ACCEPT)
        self._refresh = client.register_script(_REFRESH)
        self._update_script = client.register_script(_UPDATE)
        self._prune = client.register_script(_PRUNE)
        self.index_key = f"{prefix}unfinished"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def key(self, kind: str, job_id: str) -> str:
        """The Redis key of a job's ``job``, ``payload`` or ``lease``."""
        return f"{self.prefix}{kind}:{_check_id(job_id)}"

    def _update(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        delete: tuple[str, ...] = (),
        *,
        finished: bool = False,
        count: str = "",
    ) -> int:
        pairs: list[_Arg] = [x for item in changes.items() for x in item]
        args: list[_Arg] = [
            self.ttl_ms,
            job_id,
            int(finished),
            count,
            len(delete),
            *delete,
            *pairs,
            "updated",
            repr(self._clock()),
        ]
        keys = [self.key("job", job_id), self.key("payload", job_id), self.index_key]
        result = int(self._update_script(keys=keys, args=args))
        if not result:
            raise KeyError(job_id)
        return result

    def _refresh_if(
        self,
        job_id: str,
        stale_before: float | None,
        changes: Mapping[str, Any],
        *,
        wait: float = 0.0,
    ) -> bool:
        pairs: list[_Arg] = [x for item in changes.items() for x in item]
        cutoff = "" if stale_before is None else repr(float(stale_before))
        updated = repr(self._clock() + wait)
        args: list[_Arg] = [cutoff, updated, self.ttl_ms, len(pairs), *pairs]
        keys = [self.key("job", job_id), self.key("payload", job_id)]
        return bool(self._refresh(keys=keys, args=args))

    def get(self, job_id: str) -> Job | None:
        raw: dict[bytes | str, bytes | str] = self.client.hgetall(self.key("job", job_id))
        if not raw:
            return None
        rec = {_text(k): _text(v) for k, v in raw.items()}
        error = None
        if "error_code" in rec:
            error = {"code": rec["error_code"], "message": rec.get("error_message", "")}
        return Job(
            id=job_id,
            status=_status(rec["status"]),
            progress=float(rec["progress"]),
            error=error,
            duration_s=float(rec["duration_s"]) if "duration_s" in rec else None,
            created=float(rec["created"]),
            updated=float(rec["updated"]),
            attempts=int(rec["attempts"]),
        )

    def payload(self, job_id: str) -> dict[str, Any] | None:
        data: bytes | str | None = self.client.get(self.key("payload", job_id))
        return None if data is None else _load_payload(data)

    def accept(
        self,
        job_id: str,
        payload: Mapping[str, Any],
        *,
        site: str = "",
        site_limit: int = 0,
        total_limit: int = 0,
        audio_gone: bool = False,
    ) -> bool:
        keys = [self.key("job", job_id), self.key("payload", job_id), self.index_key]
        args: list[_Arg] = [
            repr(self._clock()),
            self.ttl_ms,
            _dump_payload(payload),
            job_id,
            site,
            int(site_limit),
            int(total_limit),
            int(audio_gone),
        ]
        result = int(self._accept(keys=keys, args=args))
        if result == -1:
            raise QueueFull("site", site_limit)
        if result == -2:
            raise QueueFull("all", total_limit)
        return result == 1

    def take_over_stale(self, job_id: str, stale_before: float) -> bool:
        return self._refresh_if(job_id, stale_before, {"status": "queued", "progress": 0})

    def touch(self, job_id: str) -> bool:
        return self._refresh_if(job_id, None, {})

    def requeue(self, job_id: str, *, wait: float = 0.0) -> bool:
        return self._refresh_if(job_id, None, {"status": "queued", "progress": 0}, wait=wait)

    def start(self, job_id: str, worker: str) -> int:
        changes = {"status": "working", "progress": 0, "worker": worker}
        return self._update(job_id, changes, count="attempts")

    def heartbeat(self, job_id: str, progress: float) -> None:
        self._update(job_id, {"progress": repr(_check_fraction(progress))})

    def finish(self, job_id: str, duration_s: float) -> None:
        changes = {
            "status": "ready",
            "progress": 1,
            "duration_s": repr(_check_duration(duration_s)),
        }
        self._update(job_id, changes, delete=("error_code", "error_message"), finished=True)

    def fail(self, job_id: str, code: str, message: str) -> None:
        changes = {"status": "failed", "error_code": str(code), "error_message": str(message)}
        self._update(job_id, changes, delete=("duration_s",), finished=True)

    def forget(self, job_id: str) -> None:
        # The lease stays: its holder may still be running, and it expires by itself.
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.key("job", job_id), self.key("payload", job_id))
        pipe.hdel(self.index_key, job_id)
        pipe.execute()

    def lease(self, job_id: str, owner: str, ttl: float) -> Lease | None:
        key = self.key("lease", job_id)
        if not self.client.set(key, owner, nx=True, px=_ms(_check_ttl(ttl))):
            return None
        return _RedisLease(self, job_id, owner, ttl)

    def lease_held(self, job_id: str) -> bool:
        return bool(self.client.exists(self.key("lease", job_id)))

    def lease_left(self, job_id: str) -> float | None:
        ms = int(self.client.pttl(self.key("lease", job_id)))
        return max(ms, 0) / 1000  # -2: no lease; leases always have a TTL

    def unfinished(self) -> list[str]:
        ids = [_text(k) for k in self.client.hkeys(self.index_key)]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(self.key("job", job_id), "status")
        alive = []
        for job_id, status in zip(ids, pipe.execute(), strict=True):
            if status is not None and _text(status) in ("queued", "working"):
                alive.append(job_id)
            else:  # expired, forgotten or finished: drop it unless revived meanwhile
                self._prune(keys=[self.key("job", job_id), self.index_key], args=[job_id])
        return alive

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        keys = list(self.client.scan_iter(match=_glob_escape(self.prefix) + "job:*", count=1000))
        for start in range(0, len(keys), 1000):
            pipe = self.client.pipeline(transaction=False)
            for key in keys[start : start + 1000]:
                pipe.hget(key, "status")
            for status in pipe.execute():
                if status is not None:  # expired or forgotten since the scan
                    counts[_status(_text(status))] += 1
        return counts
