"""Which worker processes are alive, and how their recent jobs ended.

Each Celery pool process (the processes that run jobs) writes an entry about
itself every ``LISTEN_WORKER_HEARTBEAT_SECONDS`` and whenever it starts or ends
a job (``workers.heartbeat`` does so from Celery's signals); it removes the
entry when it shuts down cleanly. A process that dies (``kill -9``, the OOM
killer, a lost machine) just stops writing: its entry is *stale* once its last
heartbeat is older than ``stale_s``, and pruned later by a reader. Being in the
store, not in Celery's broadcast, the list works in embedded mode too.

An entry also carries the outcomes (time, ok) of the jobs its process ended
in the last ``window_s``, so ``/healthz`` can tell "every job fails" from
"all is well" without a counter shared between processes.

Two implementations of :class:`WorkerRegistry`, chosen like the job store:

``FileWorkerRegistry(root)``
    ``<root>/workers/<host>:<pid>.json``, each replaced atomically (written to
    ``.beat-*`` beside it, then ``os.replace``d); readers take no lock. Only its
    own process writes an entry, so there is nothing to lock. Not ``.tmp-*``:
    that names a file left by a write cut short, which tests look for, and a
    heartbeat is being written at any moment.

``RedisWorkerRegistry(client, prefix="listen:")``
    The hash ``<prefix>workers``: field ``<host>:<pid>``, value the entry's JSON.

Times are wall-clock Unix seconds: several machines compare them. This module
imports neither Flask nor Celery.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import redis

from workers.jobs import REDIS_TIMEOUT_S, redis_client

KEEP_OUTCOMES = 200
"""Outcomes one process keeps at most (the newest), however short its jobs."""


@dataclass(frozen=True, slots=True)
class WorkerEntry:
    """One worker process as it last described itself."""

    node: str
    """Celery's node name (``celery@host``, ``readers@host``)."""
    host: str
    pid: int
    concurrency: int
    """Pool processes of its node."""
    lanes: tuple[str, ...]
    started: float
    heartbeat: float
    job: str | None = None
    """The job it is running now, if any."""
    job_since: float | None = None
    outcomes: tuple[tuple[float, bool], ...] = field(default=())
    """(when, succeeded) of the jobs it ended lately, oldest first."""

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}"

    def alive(self, now: float, stale_s: float) -> bool:
        return now - self.heartbeat < stale_s

    def as_dict(self, now: float, stale_s: float) -> dict[str, Any]:
        """The JSON shape of ``/api/v1/ops/workers`` and ``listen-service workers --json``."""
        return {
            "id": self.id,
            "node": self.node,
            "host": self.host,
            "pid": self.pid,
            "concurrency": self.concurrency,
            "lanes": list(self.lanes),
            "job": self.job,
            "job_since": self.job_since,
            "started": self.started,
            "heartbeat": self.heartbeat,
            "heartbeat_age_s": round(max(0.0, now - self.heartbeat), 1),
            "alive": self.alive(now, stale_s),
        }

    def dump(self) -> str:
        return json.dumps(
            {
                "node": self.node,
                "host": self.host,
                "pid": self.pid,
                "concurrency": self.concurrency,
                "lanes": list(self.lanes),
                "started": self.started,
                "heartbeat": self.heartbeat,
                "job": self.job,
                "job_since": self.job_since,
                "outcomes": [[t, ok] for t, ok in self.outcomes],
            }
        )

    @classmethod
    def load(cls, data: str | bytes) -> WorkerEntry:
        raw = json.loads(data)
        return cls(
            node=str(raw["node"]),
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            concurrency=int(raw["concurrency"]),
            lanes=tuple(str(lane) for lane in raw["lanes"]),
            started=float(raw["started"]),
            heartbeat=float(raw["heartbeat"]),
            job=raw.get("job"),
            job_since=raw.get("job_since"),
            outcomes=tuple((float(t), bool(ok)) for t, ok in raw.get("outcomes", ())),
        )

    def ended(self, at: float, ok: bool, since: float) -> WorkerEntry:
        """This entry with its job ended at ``at``; outcomes before ``since`` dropped."""
        kept = [o for o in self.outcomes if o[0] >= since][-(KEEP_OUTCOMES - 1) :]
        return replace(self, job=None, job_since=None, outcomes=(*kept, (at, ok)))


class WorkerRegistry(Protocol):
    def put(self, entry: WorkerEntry) -> None:
        """Write ``entry`` whole, replacing the process's previous one."""

    def remove(self, worker_id: str) -> None:
        """Drop a process's entry (its clean shutdown); harmless if absent."""

    def entries(self) -> list[WorkerEntry]:
        """Every entry not yet pruned, alive or stale, in no particular order."""

    def prune(self, before: float) -> int:
        """Drop entries whose last heartbeat is before ``before``; how many."""


def _corrupt(data: bytes | str) -> WorkerEntry | None:
    try:
        return WorkerEntry.load(data)
    except (ValueError, KeyError, TypeError):
        return None  # half-written by a version that did not replace atomically, or foreign


class FileWorkerRegistry:
    """Entries as JSON files under ``<root>/workers``; one machine."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root) / "workers"

    def _path(self, worker_id: str) -> Path:
        if "/" in worker_id or worker_id.startswith("."):
            raise ValueError(f"invalid worker id: {worker_id!r}")
        return self.root / f"{worker_id}.json"

    def put(self, entry: WorkerEntry) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".beat-", dir=self.root)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(entry.dump())
            # No fsync: a heartbeat lost to a power cut is replaced by the next one.
            os.replace(name, self._path(entry.id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    def remove(self, worker_id: str) -> None:
        self._path(worker_id).unlink(missing_ok=True)

    def entries(self) -> list[WorkerEntry]:
        found = []
        for path in self.root.glob("[!.]*.json"):
            with contextlib.suppress(FileNotFoundError):  # removed while we listed
                entry = _corrupt(path.read_bytes())
                if entry is not None:
                    found.append(entry)
        return found

    def prune(self, before: float) -> int:
        pruned = 0
        for entry in self.entries():
            if entry.heartbeat < before:
                self.remove(entry.id)
                pruned += 1
        # Left by a process killed mid-write (files are dated by this machine's clock).
        for path in self.root.glob(".beat-*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < before:
                    path.unlink()
        return pruned


# KEYS: hash. ARGV: field, heartbeat cutoff. Drops the field only if still that old,
# so a reader never prunes an entry its worker just refreshed.
_PRUNE = """
local data = redis.call('HGET', KEYS[1], ARGV[1])
if not data then return 0 end
local ok, entry = pcall(cjson.decode, data)
if ok and type(entry) == 'table' and tonumber(entry['heartbeat']) and
   tonumber(entry['heartbeat']) >= tonumber(ARGV[2]) then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
"""


class RedisWorkerRegistry:
    """Entries in one Redis hash, shared by every machine."""

    def __init__(self, client: redis.Redis, prefix: str = "listen:") -> None:
        self.client = client
        self.key = f"{prefix}workers"
        self._prune = client.register_script(_PRUNE)

    def put(self, entry: WorkerEntry) -> None:
        self.client.hset(self.key, entry.id, entry.dump())

    def remove(self, worker_id: str) -> None:
        self.client.hdel(self.key, worker_id)

    def entries(self) -> list[WorkerEntry]:
        raw: dict[bytes | str, bytes | str] = self.client.hgetall(self.key)
        return [e for e in map(_corrupt, raw.values()) if e is not None]

    def prune(self, before: float) -> int:
        pruned = 0
        for worker_id in self.client.hkeys(self.key):
            pruned += int(self._prune(keys=[self.key], args=[worker_id, repr(before)]))
        return pruned


def open_registry(
    redis_url: str, data_dir: Path, *, timeout: float = REDIS_TIMEOUT_S
) -> WorkerRegistry:
    """The registry beside the job store: Redis when ``redis_url`` is set, else files."""
    if redis_url:
        return RedisWorkerRegistry(redis_client(redis_url, timeout=timeout))
    return FileWorkerRegistry(data_dir)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How the jobs that ended in a window went, over every worker process."""

    finished: int
    failed: int

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


def recent_outcomes(entries: list[WorkerEntry], since: float) -> Outcomes:
    """The outcomes of the jobs every entry ended at or after ``since``."""
    ends = [ok for e in entries for t, ok in e.outcomes if t >= since]
    return Outcomes(finished=len(ends), failed=ends.count(False))
