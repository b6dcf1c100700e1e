"""Text rewritten for the ear, and where each rewritten piece came from.

The engine is given the spoken form of a sentence ("twenty nineteen"), the
page shows the written one ("2019"). A ``Spoken`` keeps both ends: its text,
and a ``Span`` for every piece that was rewritten, so that any offset in the
spoken text maps back to the written one (sentence timings do, and word
timings can). Text outside the spans was copied unchanged.

Rewriters (``workers.lexicon``, ``workers.normalise``) each return a
``Spoken`` of their input; ``compose`` chains two of them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """``source[src_start:src_end]`` became ``text[out_start:out_end]``."""

    src_start: int
    src_end: int
    out_start: int
    out_end: int


@dataclass(frozen=True, slots=True)
class Spoken:
    """A rewritten string; ``spans`` in order, not overlapping, on both sides."""

    text: str
    spans: tuple[Span, ...] = ()

    @classmethod
    def unchanged(cls, text: str) -> Spoken:
        return cls(text)

    @classmethod
    def build(cls, source: str, pieces: Iterable[tuple[int, int, str]]) -> Spoken:
        """``source`` with each ``(start, end, replacement)`` applied, in order."""
        out: list[str] = []
        spans: list[Span] = []
        at = length = 0
        for start, end, replacement in pieces:
            if start < at or end < start:
                raise ValueError(f"pieces out of order or overlapping at {start}:{end}")
            out.append(source[at:start])
            length += start - at
            out.append(replacement)
            spans.append(Span(start, end, length, length + len(replacement)))
            length += len(replacement)
            at = end
        out.append(source[at:])
        return cls("".join(out), tuple(spans))

    def source_offset(self, offset: int) -> int:
        """Where ``offset`` in ``text`` comes from in the source (a rewritten piece: its start,
        or its end for an offset at the piece's end)."""
        i = bisect_right([s.out_start for s in self.spans], offset) - 1
        if i < 0:
            return offset
        span = self.spans[i]
        if offset >= span.out_end:
            return span.src_end + (offset - span.out_end)
        return span.src_end if offset == span.out_end else span.src_start

    def source_range(self, start: int, end: int) -> tuple[int, int]:
        """The source range ``text[start:end]`` was made from (widened to whole pieces)."""
        i = bisect_right([s.out_start for s in self.spans], max(end - 1, start)) - 1
        last = self.spans[i] if i >= 0 else None
        stop = self.source_offset(end)
        if last is not None and last.out_start < end <= last.out_end:
            stop = last.src_end
        return self.source_offset(start), stop


def compose(first: Spoken, second: Spoken) -> Spoken:
    """``second`` rewrote ``first.text``: one ``Spoken`` from ``first``'s source to ``second.text``.

    Pieces of either that overlap or touch (in ``first.text``) become one
    piece: the map is only as fine as the coarser of the two there.
    """
    regions = sorted(
        [(f.out_start, f.out_end) for f in first.spans]
        + [(s.src_start, s.src_end) for s in second.spans]
    )
    clusters: list[list[int]] = []
    for a, b in regions:
        if clusters and a <= clusters[-1][1]:
            clusters[-1][1] = max(clusters[-1][1], b)
        else:
            clusters.append([a, b])
    grow1 = [(f.out_start, _growth(f)) for f in first.spans]
    grow2 = [(s.src_start, _growth(s)) for s in second.spans]
    spans = []
    for a, b in clusters:
        # Every piece that overlaps or touches [a, b] is in it: those starting
        # before a lie wholly before it, those starting at or before b in or before it.
        spans.append(
            Span(
                a - sum(g for at, g in grow1 if at < a),
                b - sum(g for at, g in grow1 if at <= b),
                a + sum(g for at, g in grow2 if at < a),
                b + sum(g for at, g in grow2 if at <= b),
            )
        )
    return Spoken(second.text, tuple(spans))


def _growth(span: Span) -> int:
    return (span.out_end - span.out_start) - (span.src_end - span.src_start)
