"""The last hour of work, minute by minute, from the job records: what the console charts.

A job *ended* in a minute when its record became ``ready`` or ``failed`` then
(its ``updated`` time). Each minute counts them and keeps the times to first
audio of the ready ones; the hour adds the synthesis time and audio produced.
Records are read once per page (``JobStore.accepted_since``): jobs accepted in
the last two hours, so one that waited up to an hour in the queue still counts.
Every worker of every machine writes to the job store, so these figures are the
whole service's, unlike the per-host counters of ``/metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from workers.jobs import Job

HOUR_S = 3600.0
MINUTE_S = 60.0
LOOK_BACK_S = 2 * HOUR_S
"""How far back ``accepted_since`` reads: the hour shown, plus an hour of queueing."""


@dataclass(frozen=True, slots=True)
class Minute:
    start: float
    """Wall-clock start of the minute."""
    ready: int = 0
    failed: int = 0
    first_audio: tuple[float, ...] = ()
    """Seconds from acceptance to first audio of the jobs that ended ready in it."""

    @property
    def p50(self) -> float | None:
        return percentile(self.first_audio, 0.5)

    @property
    def p95(self) -> float | None:
        return percentile(self.first_audio, 0.95)


@dataclass(frozen=True, slots=True)
class Hour:
    minutes: tuple[Minute, ...]
    """Oldest first; the last one is the minute under way."""
    synthesis_s: tuple[float, ...] = field(default=())
    audio_s: float = 0.0
    """Seconds of audio the hour's ready jobs produced."""

    @property
    def ready(self) -> int:
        return sum(m.ready for m in self.minutes)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.minutes)

    @property
    def first_audio(self) -> tuple[float, ...]:
        return tuple(s for m in self.minutes for s in m.first_audio)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def last_hour(jobs: Iterable[Job], now: float, minutes: int = 60) -> Hour:
    """The ``minutes`` whole minutes up to ``now`` (the current one last) of ``jobs``."""
    first = (math.floor(now / MINUTE_S) - minutes + 1) * MINUTE_S
    ready = [0] * minutes
    failed = [0] * minutes
    first_audio: list[list[float]] = [[] for _ in range(minutes)]
    synthesis: list[float] = []
    audio = 0.0
    for job in jobs:
        at = int((job.updated - first) // MINUTE_S)
        if job.status not in ("ready", "failed") or not 0 <= at < minutes or job.updated > now:
            continue
        if job.status == "failed":
            failed[at] += 1
            continue
        ready[at] += 1
        if job.first_audio_s is not None:
            first_audio[at].append(job.first_audio_s)
        if job.synthesis_s is not None:
            synthesis.append(job.synthesis_s)
        audio += job.duration_s or 0.0
    return Hour(
        minutes=tuple(
            Minute(first + i * MINUTE_S, ready[i], failed[i], tuple(first_audio[i]))
            for i in range(minutes)
        ),
        synthesis_s=tuple(synthesis),
        audio_s=audio,
    )
