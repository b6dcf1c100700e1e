"""What both job stores share: the record, the interface, the argument checks."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self, get_args

from audio_cache import is_valid_key

JobStatus = Literal["queued", "working", "ready", "failed"]
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
DEFAULT_TTL_S = 7 * 24 * 3600.0
"""How long a finished or failed job's record is kept after its last write."""
ABANDON_STALE_FACTOR = 30
"""A queued or working job is abandoned, and its record may expire, only after no sign
of life for the record time and at least this many times LISTEN_STALE_SECONDS."""
CANCELLED = "cancelled"
"""The error code of a job an operator cancelled."""

Clock = Callable[[], float]

FIRST_AUDIO_BOUNDS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the time-to-first-audio histogram's buckets, +Inf aside."""


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
    accepted: float
    """When it was last accepted (``created`` stays the first time)."""
    first_audio_s: float | None
    """Seconds from ``accepted`` to the first audio the current attempt wrote; None until then."""
    title: str | None = None
    """The article's title as posted, if any."""
    site: str = ""
    """The site whose key posted it ("" without site keys)."""
    chars: int = 0
    """Characters of the posted text."""
    worker: str | None = None
    """The worker process (host:pid) running it, or that ran it last."""
    synthesis_s: float | None = None
    """Seconds the attempt that made the audio spent synthesising it; None until ready."""
    cancel_requested: bool = False
    """An operator cancelled it; a worker running it stops at its next heartbeat."""

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
            "accepted": self.accepted,
            "first_audio_s": self.first_audio_s,
            "title": self.title,
            "site": self.site,
            "chars": self.chars,
            "worker": self.worker,
            "synthesis_s": self.synthesis_s,
            "cancel_requested": self.cancel_requested,
        }


@dataclass(frozen=True, slots=True)
class Histogram:
    """Observations in cumulative buckets: ``counts[i]`` is how many were at most ``bounds[i]``."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    """All observations (the +Inf bucket)."""
    sum: float

    @classmethod
    def empty(cls, bounds: tuple[float, ...] = FIRST_AUDIO_BOUNDS) -> Histogram:
        return cls(bounds, (0,) * len(bounds), 0, 0.0)


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
        quota: str | None = None,
    ) -> bool:
        """Create a queued job, or reset a failed one; attempts=0 either way.

        With ``audio_gone`` (the caller found no audio for it, e.g. evicted) a
        ready job is reset too, in the same atomic step: polls racing to do so
        never forget or double-enqueue each other's acceptance.
        True only for the one caller that did so, which must enqueue the task;
        False while the job is queued, working or ready. ``payload`` must be
        JSON-serialisable; it replaces any stored payload. The job joins the
        unfinished index under ``quota`` (default ``site``: what the site cap
        counts, so a site's publisher and its readers can be counted apart).
        Raises ``QueueFull`` instead when ``quota`` already has ``site_limit``
        unfinished jobs, or the index holds ``total_limit`` (0 = no cap);
        checked and added in one atomic step.
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

    def set_priority(self, job_id: str, priority: str) -> bool:
        """Store ``priority`` in the job's payload (its message moved lane); False if gone.

        A re-drive enqueues the stored payload, so it then goes to the new lane.
        """

    def start(self, job_id: str, worker: str) -> int:
        """Mark the job working (progress 0) by ``worker``; the attempt count, now +1."""

    def heartbeat(self, job_id: str, progress: float) -> bool:
        """Record progress (0..1) and a sign of life; cheap enough for every sentence.

        True when an operator has cancelled the job: the caller must stop."""

    def finish(self, job_id: str, duration_s: float, *, synthesis_s: float | None = None) -> None:
        """Mark the job ready (progress 1) with the audio's duration and, when this
        attempt made it, the seconds it spent synthesising."""

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Mark the job failed with an error code and message; ``accept`` may retry it."""

    def forget(self, job_id: str) -> None:
        """Remove the job and its payload (not a held lease). Harmless if absent."""

    def first_audio(self, job_id: str, seconds: float) -> None:
        """Record that the attempt running the job wrote its first audio ``seconds`` after
        acceptance: on the record (``first_audio_s``) and in the histogram shared by every
        worker. Once per attempt; ``start`` clears the record's value."""

    def first_audio_histogram(self) -> Histogram:
        """The time-to-first-audio histogram over every attempt recorded in this store."""

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

    def list_jobs(
        self, status: JobStatus | None = None, site: str | None = None, limit: int = 50
    ) -> list[Job]:
        """Up to ``limit`` jobs, most recently accepted first, of ``status`` and ``site``
        (None: any). Reads records only, never payloads."""

    def accepted_since(self, since: float) -> list[Job]:
        """Every job last accepted at or after ``since`` (wall clock), any status, in
        no particular order. Reads records only; the console's last hour."""

    def cancel(self, job_id: str) -> JobStatus | None:
        """An operator's cancel, in one atomic step; the status it found (None: no job).

        A queued job ends failed with code ``cancelled`` at once (a message still
        in the broker finds it failed and is dropped); a working one is flagged,
        and its worker stops and fails it at its next heartbeat. Ready and
        failed jobs are left as they are. ``accept`` clears the flag."""

    def expire(self) -> int:
        """Remove records past their time (see the package); how many went."""


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


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus writes it: ``0.25``, ``1``, ``30``."""
    return f"{bound:g}"


def _buckets_of(seconds: float) -> list[str]:
    """The labels of the cumulative buckets an observation of ``seconds`` falls in."""
    return [_le(b) for b in FIRST_AUDIO_BOUNDS if seconds <= b]


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be within 1..10000, not {limit!r}")
    return int(limit)


def matches(job: Job, status: str | None, site: str | None) -> bool:
    return (status is None or job.status == status) and (site is None or job.site == site)


def chars_of(payload: Mapping[str, Any]) -> int:
    text = payload.get("text")
    return len(text) if isinstance(text, str) else 0


def title_of(payload: Mapping[str, Any]) -> str | None:
    title = payload.get("title")
    return title if isinstance(title, str) else None


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
