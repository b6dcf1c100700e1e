"""``FileJobStore``: job records as files under the data directory (see the package)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from audio_cache import is_valid_key
from workers.jobs.common import (
    CANCELLED,
    DEFAULT_TTL_S,
    FIRST_AUDIO_BOUNDS,
    STATUSES,
    Clock,
    Histogram,
    Job,
    JobStatus,
    Lease,
    QueueFull,
    _buckets_of,
    _check_duration,
    _check_fraction,
    _check_id,
    _check_limit,
    _check_ttl,
    _dump_payload,
    _le,
    _load_payload,
    _status,
    chars_of,
    matches,
    title_of,
)


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

    def __init__(
        self,
        root: Path | str,
        *,
        clock: Clock = time.time,
        ttl_seconds: float = DEFAULT_TTL_S,
        abandoned_seconds: float | None = None,
    ) -> None:
        self.root = Path(root) / "jobs"
        self._clock = clock
        self.ttl_s = _check_ttl(ttl_seconds)
        self.abandoned_s = _check_ttl(abandoned_seconds or ttl_seconds)

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

    def _count_unfinished(self, quota: str) -> tuple[int, int]:
        """(jobs counted as ``quota``, all jobs) in the index; the caller holds its lock."""
        mine = total = 0
        for marker in self._index.iterdir():
            if marker.name.startswith("."):
                continue
            total += 1
            with contextlib.suppress(FileNotFoundError):  # finished while we counted
                mine += marker.read_bytes() == quota.encode()
        return mine, total

    def get(self, job_id: str) -> Job | None:
        record = self._read(job_id)
        return None if record is None else _job(job_id, record)

    def _expired(self, record: Mapping[str, Any], now: float) -> bool:
        keep = self.abandoned_s if record["status"] in ("queued", "working") else self.ttl_s
        return float(record["updated"]) < now - keep

    def _records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every record (not payload), dropping those past their time."""
        now = self._clock()
        for path in self.root.glob("*/*.json"):
            name = path.name
            if name.startswith(".") or name.endswith(".payload.json"):
                continue
            job_id = name.removesuffix(".json")
            try:
                record: dict[str, Any] = json.loads(path.read_bytes())
            except FileNotFoundError:
                continue  # forgotten while we listed
            if is_valid_key(job_id) and self._expired(record, now) and self._expire(job_id):
                continue
            yield job_id, record

    def _expire(self, job_id: str) -> bool:
        with self._locked(job_id):  # expire unless written meanwhile
            record = self._read(job_id)
            if record is not None and not self._expired(record, self._clock()):
                return False
        self.forget(job_id)
        return True

    def list_jobs(
        self, status: JobStatus | None = None, site: str | None = None, limit: int = 50
    ) -> list[Job]:
        limit = _check_limit(limit)
        # One small file per job: embedded mode's few thousand records at most.
        jobs = [_job(i, r) for i, r in self._records() if is_valid_key(i)]
        jobs = [j for j in jobs if matches(j, status, site)]
        jobs.sort(key=lambda j: j.accepted, reverse=True)
        return jobs[:limit]

    def accepted_since(self, since: float) -> list[Job]:
        jobs = (_job(i, r) for i, r in self._records() if is_valid_key(i))
        return [j for j in jobs if j.accepted >= since]

    def expire(self) -> int:
        before = sum(1 for _ in self.root.glob("*/*.payload.json"))
        for _ in self._records():
            pass
        return before - sum(1 for _ in self.root.glob("*/*.payload.json"))

    def cancel(self, job_id: str) -> JobStatus | None:
        with self._locked(job_id):
            record = self._read(job_id)
            if record is None:
                return None
            found = _status(record["status"])
            if found not in ("queued", "working"):
                return found
            record.update(cancel=True, updated=self._clock())
            if found == "queued":
                error = {"code": CANCELLED, "message": "cancelled by an operator"}
                record.update(status="failed", error=error, duration_s=None)
            _write_json(self._path(job_id, ".json"), record)
            if found == "queued":
                (self._index / job_id).unlink(missing_ok=True)
            return found

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
        quota: str | None = None,
    ) -> bool:
        quota = site if quota is None else quota
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
                mine, total = self._count_unfinished(quota)
                if site_limit and mine >= site_limit:
                    raise QueueFull("site", site_limit)
                if total_limit and total >= total_limit:
                    raise QueueFull("all", total_limit)
                # Index first, payload next: the record is the commit marker, so a
                # queued job always has a payload and a marker (a marker without
                # a record is pruned by unfinished()).
                _write_json(self._index / job_id, quota.encode())
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
                    "accepted": now,
                    "attempts": 0,
                    "worker": None,
                    "first_audio_s": None,
                    "title": title_of(payload),
                    "site": site,
                    "chars": chars_of(payload),
                    "synthesis_s": None,
                    "cancel": False,
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

    def set_priority(self, job_id: str, priority: str) -> bool:
        path = self._path(job_id, ".payload.json")
        with self._locked(job_id):
            try:
                payload = _load_payload(path.read_bytes())
            except FileNotFoundError:
                return False
            _write_json(path, _dump_payload({**payload, "priority": priority}))
            return True

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
                first_audio_s=None,
                updated=self._clock(),
            )
            _write_json(self._path(job_id, ".json"), record)
            return attempts

    def heartbeat(self, job_id: str, progress: float) -> bool:
        # No fsync: a heartbeat lost in a power cut only makes the job look stale
        # sooner, and an fsync per sentence would cost more than the sentence.
        record = self._update(job_id, {"progress": _check_fraction(progress)}, durable=False)
        return bool(record.get("cancel", False))

    def finish(self, job_id: str, duration_s: float, *, synthesis_s: float | None = None) -> None:
        changes = {"status": "ready", "progress": 1.0, "duration_s": _check_duration(duration_s)}
        if synthesis_s is not None:
            changes["synthesis_s"] = _check_duration(synthesis_s)
        # A cancel that came after the last heartbeat did not stop it: the audio is made.
        self._update(job_id, {**changes, "error": None, "cancel": False}, finished=True)

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

    @property
    def _first_audio_path(self) -> Path:
        return self.root / "first_audio.json"

    def first_audio(self, job_id: str, seconds: float) -> None:
        seconds = _check_duration(seconds)
        with self._locked(job_id):
            record = self._read(job_id)
            if record is None:
                raise KeyError(job_id)
            record.update(first_audio_s=seconds, updated=self._clock())
            _write_json(self._path(job_id, ".json"), record, durable=False)
            # Every worker process of this machine adds to one file, each under its lock.
            fd = _flock(self.root / "first_audio.lock", blocking=True)
            assert fd is not None
            try:
                counts = self._histogram_counts()
                for label in [*_buckets_of(seconds), "count"]:
                    counts[label] = counts.get(label, 0) + 1
                counts["sum"] = counts.get("sum", 0) + seconds
                _write_json(self._first_audio_path, counts)
            finally:
                os.close(fd)

    def _histogram_counts(self) -> dict[str, float]:
        try:
            counts: dict[str, float] = json.loads(self._first_audio_path.read_bytes())
        except FileNotFoundError:
            return {}
        return counts

    def first_audio_histogram(self) -> Histogram:
        counts = self._histogram_counts()
        return Histogram(
            FIRST_AUDIO_BOUNDS,
            tuple(int(counts.get(_le(b), 0)) for b in FIRST_AUDIO_BOUNDS),
            int(counts.get("count", 0)),
            float(counts.get("sum", 0.0)),
        )

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


def _job(job_id: str, record: Mapping[str, Any]) -> Job:
    return Job(
        id=job_id,
        status=_status(record["status"]),
        progress=float(record["progress"]),
        error=record.get("error"),
        duration_s=record.get("duration_s"),
        created=float(record["created"]),
        updated=float(record["updated"]),
        attempts=int(record["attempts"]),
        # Records written before accept times were kept: their creation is their acceptance.
        accepted=float(record.get("accepted", record["created"])),
        first_audio_s=record.get("first_audio_s"),
        title=record.get("title"),
        site=str(record.get("site", "")),
        chars=int(record.get("chars", 0)),
        worker=record.get("worker"),
        synthesis_s=record.get("synthesis_s"),
        cancel_requested=bool(record.get("cancel", False)),
    )
