"""How the normaliser applies its rules: each one a regex for a class of token and a
function that says how that token is read.

Rules run in order of priority over the *source* sentence. A match that touches
text an earlier rule already took is skipped, so every rewritten piece maps to
exactly the written token it came from and nothing is rewritten twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Piece = tuple[int, int, str]
# A reading: None declines the match (later rules may take it); a string replaces the
# whole match; a list of pieces replaces parts of it (and the match is taken whole).
Reading = str | list[Piece] | None
Read = Callable[[re.Match[str]], Reading]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    read: Read


def rule(name: str, pattern: str, flags: int = 0) -> Callable[[Read], Rule]:
    """Decorator: ``@rule("ordinal", r"\\b(\\d+)(st|nd|rd|th)\\b")`` over a ``read`` function."""

    def make(read: Read) -> Rule:
        return Rule(name, re.compile(pattern, flags), read)

    return make


def wordset(words: str) -> frozenset[str]:
    """The blank-separated words of ``words``, for the word lists the rules consult."""
    return frozenset(words.split())


def apply(text: str, rules: Sequence[Rule], taken: Iterable[tuple[int, int]] = ()) -> list[Piece]:
    """The pieces ``rules`` rewrite in ``text``, in order; ``taken`` ranges are left alone."""
    mask = bytearray(len(text))
    for start, end in taken:
        mask[start:end] = b"\x01" * (end - start)
    pieces: list[Piece] = []
    for r in rules:
        for m in r.pattern.finditer(text):
            start, end = m.span()
            if end == start or mask.find(1, start, end) != -1:
                continue
            reading = r.read(m)
            if reading is None:
                continue
            if isinstance(reading, str):
                reading = [(start, end, reading)]
            mask[start:end] = b"\x01" * (end - start)
            pieces.extend(p for p in reading if text[p[0] : p[1]] != p[2])
    pieces.sort()
    return pieces
