"""Turn submitted article text into sentences a speech engine can read.

``prepare`` validates the text and splits it into paragraphs and sentences;
``chunk`` cuts sentences into pieces short enough for one engine call.

Rules, in the order they are applied:

* Length: more than ``max_chars`` code points raises ``TextTooLong`` before
  any other work, so a huge submission costs nothing.
* Newlines: ``\\r\\n``, ``\\r`` and the other ``str.splitlines`` boundaries all
  count as newlines.
* Paragraphs are separated by blank lines (a line holding only whitespace or
  invisible characters is blank). If the text has no blank line at all but
  does have single newlines, every line is a paragraph, because pasted text
  often puts one newline between paragraphs. Otherwise a single newline is
  just whitespace.
* Sentences end after a run of ``. ! ?``, ellipsis, interrobang, Arabic
  question mark and full stop, or Devanagari danda (plus any closing quotes or
  brackets) that is followed by whitespace or the end of the paragraph, and
  after the ideographic full stop or full-width ``! ?`` even with no space.
  A lone ``.`` does not end a sentence after a title such as ``Dr.``, ``Mr.``
  or ``e.g.``, or after a single capital initial (``J. K. Rowling``); nor
  after ``No.`` before a digit; nor after ``etc.``, ``Inc.``, month
  abbreviations, ``U.S.``-style dotted acronyms or an ellipsis when the next
  word starts in lower case or with a digit. Decimals like ``3.5`` never
  split because no whitespace follows.
* Cleaning: control characters (category Cc, except those Python treats as
  whitespace) and format characters (Cf, such as zero-width space, BOM and
  bidi controls) are removed, except ZWJ and ZWNJ which shape some scripts.
  Whitespace runs, including NBSP, collapse to one space, and runs of ``[``
  or ``]`` to one bracket (the engine reads ``[[...]]`` as phonemes); then
  the sentence is NFC-normalised. Offsets are found on the original string first, so
  normalisation cannot shift them.
* A sentence is kept only if it contains a letter or digit (categories L*, N*)
  or a symbol such as an emoji (So), which espeak-ng reads by name. If no
  sentence is kept, ``EmptyText`` is raised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from workers.errors import EmptyText, TextTooLong

DEFAULT_MAX_CHARS = 100_000
DEFAULT_CHUNK_CHARS = 600
MIN_CHUNK_CHARS = 50
# The least of a sentence left after a short first piece (``split``): a word or
# two alone after a clause pause sounds like a stumble.
FIRST_REST_CHARS = 30

# Hard-coded rather than scanned from unicodedata at import (25 ms); a unit
# test checks this class against the running Python's Unicode database.
INVISIBLE = (
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f"
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_NEWLINE_CHARS = "\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
# "\r" must not match alone before "\n", or every CRLF line would look blank.
_NEWLINE = r"(?:\r\n|\r(?!\n)|[\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029])"
_BLANK = rf"(?:[^\S{_NEWLINE_CHARS}]|[{INVISIBLE}])"

INVISIBLE_RE = re.compile(f"[{INVISIBLE}]+")
_SPACE_RE = re.compile(r"\s+")
_BLANK_CHAR_RE = re.compile(rf"[\s{INVISIBLE}]")
_CONTENT_RE = re.compile(rf"[^\s{INVISIBLE}]")
_PARAGRAPH_BREAK_RE = re.compile(rf"{_NEWLINE}(?:{_BLANK}*{_NEWLINE})+")
_LINE_BREAK_RE = re.compile(_NEWLINE)
# Escaped because ruff rightly flags look-alike punctuation; see the docstring.
_TERMINATORS = ".!?\u2026\u203d\u061f\u06d4\u0964\u0965"
_CJK_TERMINATORS = "\u3002\uff01\uff1f\uff61"
_OPENERS = "\"'([{\u00ab\u2018\u201c"
_CLOSERS = "\"')\\]}\u00bb\u203a\u2019\u201d\u300d\u300f\uff09\u3011\u3009\u300b\u3015"
_SENTENCE_END_RE = re.compile(
    # Matching only from the start of a run, possessively, keeps a long run of
    # dots that is not followed by a space from costing quadratic time.
    rf"(?<![{_TERMINATORS}])(?P<run>[{_TERMINATORS}]++)[{_CLOSERS}]*+"
    rf"(?=[{INVISIBLE}]*(?:\s|\Z))"
    rf"|[{_CJK_TERMINATORS}]+[{_CLOSERS}]*"
)
_NEXT_CHAR_RE = re.compile(rf"[\s{INVISIBLE}{_OPENERS}]*(\S)")
_ACRONYM_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_ALNUM_RE = re.compile(r"[^\W_]")
# The engine reads [[...]] as phonemes (a lexicon's); a page's text must not.
_DOUBLE_BRACKET_RE = re.compile(r"\[{2,}|\]{2,}")
_PHONEMES_RE = re.compile(r"\[\[.*?\]\]")
# "1,000" and "12:30" are not clause breaks, hence the space after Latin marks.
_CLAUSE_RE = re.compile("[,;:\u060c](?= )|[\u2013\u2014\u3001\uff0c\uff1b\uff1a]")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")

# Lower-cased, without the final dot. Titles precede a name, so never end a
# sentence; the "soft" ones often do, so only the next word's case decides.
# Word lists read better as one string than as dozens of quoted items.
_TITLES = frozenset(
    "mr mrs ms mx dr prof st sr jr mt messrs rev fr gen col capt lt sgt hon gov"  # noqa: SIM905
    " sen rep vs cf e.g i.e approx fig figs".split()
)
_BEFORE_NUMBER = frozenset("no nos vol vols pp art ch".split())  # noqa: SIM905
_SOFT = frozenset(
    "etc inc ltd co corp al jan feb mar apr jun jul aug sep sept oct nov dec".split()  # noqa: SIM905
)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence: cleaned text plus its span in the submitted string."""

    index: int
    paragraph: int
    text: str
    char_start: int
    char_end: int


@dataclass(frozen=True, slots=True)
class PreparedText:
    """The sentences of one submission, in order; paragraphs are numbered densely."""

    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        """Canonical text: sentences joined by a space, paragraphs by a blank line."""
        paragraphs: list[list[str]] = []
        last = -1
        for sentence in self.sentences:
            if sentence.paragraph != last:
                paragraphs.append([])
                last = sentence.paragraph
            paragraphs[-1].append(sentence.text)
        return "\n\n".join(" ".join(p) for p in paragraphs)

    @property
    def paragraphs(self) -> int:
        return self.sentences[-1].paragraph + 1 if self.sentences else 0


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one sentence, short enough for a single engine call."""

    sentence: int
    text: str


def prepare(text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> PreparedText:
    """Split ``text`` into cleaned sentences, following the module's rules.

    Raises ``TextTooLong`` above ``max_chars`` and ``EmptyText`` when nothing
    speakable remains. Every letter, digit and symbol of ``text`` lies inside
    exactly one sentence's ``char_start:char_end`` span, in order.
    """
    if len(text) > max_chars:
        raise TextTooLong(f"text is {len(text):,} characters; the limit is {max_chars:,}")
    sentences: list[Sentence] = []
    for start, end in _paragraph_spans(text):
        paragraph = sentences[-1].paragraph + 1 if sentences else 0
        for s_start, s_end in _sentence_spans(text, start, end):
            cleaned = _clean(text[s_start:s_end])
            if _is_speakable(cleaned):
                sentences.append(Sentence(len(sentences), paragraph, cleaned, s_start, s_end))
    if not sentences:
        raise EmptyText("the text contains no letters, digits or symbols to speak")
    return PreparedText(tuple(sentences))


def chunk(prepared: PreparedText, *, chunk_chars: int = DEFAULT_CHUNK_CHARS) -> list[Chunk]:
    """Cut each sentence into non-empty pieces of at most ``chunk_chars``.

    A sentence that fits is exactly one chunk. A longer one is cut after the
    clause punctuation nearest the limit, else at the last space, else hard
    at the limit (never before a combining mark or inside a ZWJ sequence).
    """
    return [
        Chunk(sentence.index, piece)
        for sentence in prepared.sentences
        for piece in split(sentence.text, chunk_chars)
    ]


def split(
    text: str, chunk_chars: int = DEFAULT_CHUNK_CHARS, first_chars: int | None = None
) -> list[str]:
    """``text`` cut into non-empty pieces of at most ``chunk_chars`` (as ``chunk``).

    With ``first_chars`` (less than ``chunk_chars``), a text longer than that
    gives first its part up to its last clause break within ``first_chars``,
    if it has one and at least ``FIRST_REST_CHARS`` follow; else it is cut as
    without it. Never inside a ``[[...]]`` phoneme block (a lexicon's), unless
    the block alone is longer than a piece.
    """
    for name, value in (("chunk_chars", chunk_chars), ("first_chars", first_chars)):
        if value is not None and value < MIN_CHUNK_CHARS:
            raise ValueError(f"{name} must be at least {MIN_CHUNK_CHARS}, got {value}")
    pieces: list[str] = []
    rest = text.strip()
    if first_chars is not None and first_chars < min(chunk_chars, len(rest)):
        cut = _first_clause(rest, first_chars)
        if cut is not None and len(rest) - cut >= FIRST_REST_CHARS:
            pieces.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
    while len(rest) > chunk_chars:
        cut = _cut_point(rest, chunk_chars)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


# How long espeak-ng (pyttsx3 2.99, espeak-ng 1.51) and the assembler's pauses
# take at 175 words per minute, fitted on the spoken-form fixtures and checked
# on texts held out (docs/benchmarks.md, "Duration estimate"): a letter, a
# digit (numbers are read as words), a CJK character, and the pauses after a
# sentence and, longer, after a paragraph. player.js uses the same figures.
SECONDS_PER_LETTER = 0.067
SECONDS_PER_DIGIT = 0.435
SECONDS_PER_CJK = 0.229
SENTENCE_PAUSE_S = 0.35
PARAGRAPH_PAUSE_S = 0.25
"""Beyond a sentence's pause."""
_DIGIT_RE = re.compile(r"\d")


def estimate_seconds(prepared_or_text: PreparedText | str, wpm: int = 175) -> float:
    """About how long the audio of this text lasts at ``wpm`` words per minute.

    Counted from letters, digits and CJK characters (Han and kana put no
    spaces between words) at the speeds the engine really has at 175 wpm,
    scaled to ``wpm``, plus the pauses between sentences and paragraphs
    (scaled like ``audio.Pauses``). Within 10 % of the real length on the
    fixtures and held-out texts measured; words alone fell 19 to 56 % short.
    """
    if wpm <= 0:
        raise ValueError(f"wpm must be positive, got {wpm}")
    if isinstance(prepared_or_text, PreparedText):
        prepared = prepared_or_text
    else:
        prepared = prepare(prepared_or_text)
    text = prepared.text
    cjk = len(_CJK_RE.findall(text))
    digits = len(_DIGIT_RE.findall(text))
    letters = len(_ALNUM_RE.findall(text)) - cjk - digits
    speech = letters * SECONDS_PER_LETTER + digits * SECONDS_PER_DIGIT + cjk * SECONDS_PER_CJK
    pauses = (len(prepared.sentences) - 1) * SENTENCE_PAUSE_S
    pauses += (prepared.paragraphs - 1) * PARAGRAPH_PAUSE_S
    slower: float = (175 / wpm) ** 1.8
    return speech * 175 / wpm + pauses * slower


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    first = _CONTENT_RE.search(text)
    if first is None:
        return []
    lo, hi = first.start(), len(text)
    while _BLANK_CHAR_RE.match(text, hi - 1):
        hi -= 1
    separator = _PARAGRAPH_BREAK_RE if _PARAGRAPH_BREAK_RE.search(text, lo, hi) else _LINE_BREAK_RE
    spans = []
    for match in separator.finditer(text, lo, hi):
        spans.append((lo, match.start()))
        lo = match.end()
    spans.append((lo, hi))
    return spans


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of sentences in ``text[start:end]``, trimmed of blank characters."""
    bounds = [start]
    for match in _SENTENCE_END_RE.finditer(text, start, end):
        if _ends_sentence(text, match, end):
            bounds.append(match.end())
    bounds.append(end)
    spans = []
    for a, b in pairwise(bounds):
        first = _CONTENT_RE.search(text, a, b)
        if first is None:
            continue
        while _BLANK_CHAR_RE.match(text, b - 1):
            b -= 1
        spans.append((first.start(), b))
    return spans


def _ends_sentence(text: str, match: re.Match[str], end: int) -> bool:
    run = match.group("run")
    if run is None:
        return True
    after = _NEXT_CHAR_RE.match(text, match.end(), end)
    next_char = after.group(1) if after else ""
    continues = next_char.islower() or next_char.isdigit()
    if run != ".":
        # An ellipsis before a lower-case word is a pause, not an ending.
        return not (set(run) <= {".", "\u2026"} and continues)
    word_start = match.start()
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : match.start()].lstrip(_OPENERS)
    key = word.lower()
    if key in _TITLES or (len(word) == 1 and word.isupper()):
        return False
    if key in _BEFORE_NUMBER:
        return not next_char.isdigit()
    if key in _SOFT or _ACRONYM_RE.fullmatch(word):
        return not continues
    return True


def _clean(span: str) -> str:
    spaced = _SPACE_RE.sub(" ", INVISIBLE_RE.sub("", span))
    spaced = _DOUBLE_BRACKET_RE.sub(lambda m: m.group()[0], spaced)
    return unicodedata.normalize("NFC", spaced).strip()


def _is_speakable(text: str) -> bool:
    if _ALNUM_RE.search(text):
        return True
    return any(unicodedata.category(c) == "So" for c in text)


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` so that ``text[:cut].rstrip()`` fits in ``limit``."""
    window = text[: limit + 1]
    outside = _outside_blocks(text, limit)
    clauses = _clause_breaks(window, limit, outside)
    # A clause break far back would leave a tiny chunk; a space near the limit is better.
    if clauses and clauses[-1] > limit // 2:
        return clauses[-1]
    spaces = [i for i, ch in enumerate(window) if ch == " " and i > 0 and outside(i)]
    if spaces:
        return spaces[-1]
    cut = limit
    while cut > 1 and _joins_previous(text[cut - 1], text[cut]):
        cut -= 1
    return cut if cut > 1 else limit


def _first_clause(text: str, limit: int) -> int | None:
    """Where ``text``'s last clause break within ``limit`` ends; None if it has none."""
    clauses = _clause_breaks(text[: limit + 1], limit, _outside_blocks(text, limit))
    return clauses[-1] if clauses else None


def _outside_blocks(text: str, limit: int) -> Callable[[int], bool]:
    """Whether a cut at an index up to ``limit`` is outside ``text``'s phoneme blocks."""
    blocks = [m.span() for m in _PHONEMES_RE.finditer(text, 0, limit + 200)]
    return lambda cut: not any(a < cut < b for a, b in blocks)


def _clause_breaks(window: str, limit: int, outside: Callable[[int], bool]) -> list[int]:
    return [m.end() for m in _CLAUSE_RE.finditer(window) if m.end() <= limit and outside(m.end())]


def _joins_previous(before: str, char: str) -> bool:
    """Whether ``char`` belongs to the same grapheme as ``before`` (approximately)."""
    if "\u200c" in (before, char) or "\u200d" in (before, char):
        return True
    return unicodedata.category(char) in {"Mn", "Mc", "Me", "Sk"} and not char.isascii()
