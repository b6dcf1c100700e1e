"""Geometry of the console's two small charts, drawn as inline SVG by ``templates/ops.html``.

No chart library and no script: the page must work without JavaScript, and
two charts of sixty points do not earn a dependency. Coordinates are in a
``WIDTH`` by ``HEIGHT`` view box, y growing downwards as in SVG; the template
only places what is computed here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from listen_service.ops.activity import Hour, Minute

WIDTH = 600.0
HEIGHT = 120.0


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    """CSS class: ``ready`` or ``failed``."""
    title: str
    """Tooltip: the minute and its figures."""


@dataclass(frozen=True, slots=True)
class Line:
    kind: str
    """CSS class: ``p50`` or ``p95``."""
    points: str
    """SVG ``points`` of one unbroken run (minutes with no data break a line)."""
    dots: tuple[tuple[float, float], ...] = ()
    """The same points, each drawn as a dot: a lone minute shows too."""


@dataclass(frozen=True, slots=True)
class Chart:
    top: float
    """The value at the top edge (a round number at or above the largest)."""
    unit: str
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    width: float = WIDTH
    height: float = HEIGHT

    @property
    def empty(self) -> bool:
        return not self.bars and not self.lines


def nice_top(largest: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above ``largest`` (1 for nothing)."""
    if largest <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(largest))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= largest)


def _clock(minute: Minute) -> str:
    return time.strftime("%H:%M", time.gmtime(minute.start))


def throughput(hour: Hour) -> Chart:
    """Jobs ended per minute: ready at the bottom, failed stacked on top."""
    top = nice_top(max((m.ready + m.failed for m in hour.minutes), default=0))
    step = WIDTH / max(1, len(hour.minutes))
    bars: list[Bar] = []
    for i, m in enumerate(hour.minutes):
        title = f"{_clock(m)} UTC: {m.ready} ready, {m.failed} failed"
        base = HEIGHT
        for kind, n in (("ready", m.ready), ("failed", m.failed)):
            if n:
                h = HEIGHT * n / top
                base -= h
                bars.append(
                    Bar(
                        round(i * step + 1, 1),
                        round(base, 1),
                        round(step - 2, 1),
                        round(h, 1),
                        kind,
                        title,
                    )
                )
    return Chart(top=top, unit="jobs/min", bars=tuple(bars))


def latency(hour: Hour) -> Chart:
    """Time to first audio per minute: the median and the 95th percentile, as lines."""
    top = nice_top(max((m.p95 or 0.0 for m in hour.minutes), default=0.0))
    step = WIDTH / max(1, len(hour.minutes))
    lines = [
        line
        for kind, of in (("p95", _p95), ("p50", _p50))
        for line in _runs(hour.minutes, of, kind, step, top)
    ]
    return Chart(top=top, unit="s to first audio", lines=tuple(lines))


def _p50(m: Minute) -> float | None:
    return m.p50


def _p95(m: Minute) -> float | None:
    return m.p95


def _runs(
    minutes: Sequence[Minute],
    of: Callable[[Minute], float | None],
    kind: str,
    step: float,
    top: float,
) -> list[Line]:
    runs: list[list[tuple[float, float]]] = [[]]
    for i, m in enumerate(minutes):
        value = of(m)
        if value is None:
            runs.append([])
            continue
        runs[-1].append((round(i * step + step / 2, 1), round(HEIGHT - HEIGHT * value / top, 1)))
    return [Line(kind, " ".join(f"{x},{y}" for x, y in run), tuple(run)) for run in runs if run]
