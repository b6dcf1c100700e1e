"""Word timings: from the engine's word marks to the words of the submitted text.

The engine reads a sentence's spoken form (``workers.reading``: "3.5%" becomes
"three point five per cent"), in pieces, and reports when each word it said
began (``workers.engine.WordMark``). Its marks are word-level but not always
one per written word (espeak-ng says "per cent" or "twenty-five" as one, and
then marks an offset inside the first word), so each mark only dates the
spoken word it falls in; a spoken word without a mark of its own belongs to
the word before it. The spoken words are then taken back to the sentence as
written (``Spoken.source_range``): all the words said for "3.5%" are that one
written word. A word ends where the next one begins (the last, where its
piece's audio ends), so the words of a piece cover its audio without gaps.

Nothing here knows the engine, the audio or Flask; ``workers.pipeline`` calls it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workers.engine import WordMark
from workers.spoken import Spoken

_TOKEN_RE = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Word:
    """``start`` to ``end`` (characters of the text it belongs to), said from ``start_ms``
    to ``end_ms`` of the programme."""

    start: int
    end: int
    start_ms: int
    end_ms: int


def _edge(c: str) -> bool:
    return unicodedata.category(c)[0] in "PZ" or c in "[]"


def tokens(text: str) -> list[tuple[int, int]]:
    """The words of ``text``: runs of non-space, less punctuation at either end
    (a token of punctuation alone is no word)."""
    found = []
    for m in _TOKEN_RE.finditer(text):
        start, end = m.span()
        while start < end and _edge(text[start]):
            start += 1
        while end > start and _edge(text[end - 1]):
            end -= 1
        if start < end:
            found.append((start, end))
    return found


def piece_words(
    piece: str,
    offset: int,
    marks: Sequence[WordMark],
    placed: Callable[[int], int],
    end_ms: int,
) -> list[Word]:
    """The words of one rendered ``piece`` (which starts at ``offset`` of the spoken
    sentence), in spoken-text characters, timed by ``marks``; ``placed`` turns a time
    in the piece's own audio into the programme's, ``end_ms`` is where it ends.

    The first word starts with the piece's audio; no words if the engine
    marked nothing (then the caller has no word timings for the sentence)."""
    spans = tokens(piece)
    if not spans or not marks:
        return []
    starts: list[int | None] = [None] * len(spans)
    at = 0
    for mark in marks:
        while at < len(spans) and spans[at][1] <= mark.start:
            at += 1
        if at == len(spans):
            break
        if starts[at] is None:
            starts[at] = placed(mark.at_ms)
    # The first word starts with the piece's audio: engines mark it a little
    # after (Piper once its start symbol has been said) or not at all.
    starts[0] = placed(0)
    words: list[Word] = []
    for (start, end), begin in zip(spans, starts, strict=True):
        if begin is None or (words and begin <= words[-1].start_ms):
            # Said with the word before it (no mark of its own): one word of the two.
            last = words[-1]
            words[-1] = Word(last.start, offset + end, last.start_ms, last.end_ms)
            continue
        if words:
            last = words[-1]
            words[-1] = Word(last.start, last.end, last.start_ms, begin)
        words.append(Word(offset + start, offset + end, begin, begin))
    last = words[-1]
    words[-1] = Word(last.start, last.end, last.start_ms, max(end_ms, last.start_ms))
    return words


def written(words: Sequence[Word], spoken: Spoken) -> list[Word]:
    """``words`` (of ``spoken.text``) as words of the text it was made from: the
    spoken words of one rewritten piece become one word spanning their times."""
    out: list[Word] = []
    for word in words:
        start, end = spoken.source_range(word.start, word.end)
        if out and start < out[-1].end:
            last = out[-1]
            out[-1] = Word(last.start, max(last.end, end), last.start_ms, word.end_ms)
        else:
            out.append(Word(start, end, word.start_ms, word.end_ms))
    return out


def source_map(raw: str, cleaned: str) -> list[int]:
    """For each offset of ``cleaned`` (and its end), the offset of ``raw`` it comes from.

    ``cleaned`` is ``raw`` with characters removed (invisible ones, doubled
    brackets), whitespace runs made one space and the ends trimmed
    (``workers.text``), so it can be walked alongside ``raw``.
    """
    found: list[int] = []
    j = 0
    for c in cleaned:
        while j < len(raw) and not (raw[j] == c or (c.isspace() and raw[j].isspace())):
            j += 1
        found.append(min(j, len(raw)))
        j += 1
    # The end: just after the last character kept.
    found.append(min(j, len(raw)) if cleaned else 0)
    return found


def as_json(words: Sequence[Word], to_raw: Sequence[int], base: int) -> list[dict[str, int]]:
    """The timings file's ``words`` of a sentence: offsets in the submitted text."""
    last = len(to_raw) - 1
    return [
        {
            "start_ms": w.start_ms,
            "end_ms": w.end_ms,
            "char_start": base + to_raw[min(w.start, last)],
            "char_end": base + to_raw[min(w.end - 1, last)] + 1,
        }
        for w in words
    ]
