"""A site's pronunciation lexicon: how its words are spoken.

An ``Entry`` names one or more graphemes (the written word or phrase) and
says how they are spoken: an ``alias`` (other text, read as is: "HKTDC" →
"H K T D C") or a ``phoneme`` string in an ``alphabet``: ``"ipa"`` (English
IPA, converted by ``workers.lexicon.ipa``) or ``"x-espeak"`` (espeak-ng's own
mnemonics). A phoneme entry reaches the engine as a ``[[...]]`` block, which
espeak-ng reads as phonemes.

Matching (``applicable``, ``apply``), the rules PLS 1.0 leaves to the processor:

- A grapheme matches as written, case included ("US" is not "us"; list each
  form you need as another grapheme of the entry). A run of whitespace in a
  grapheme matches any run of whitespace in the text.
- Only whole words: no letter, digit or underscore directly before or after.
- Scanning left to right, the longest grapheme that matches at a point wins
  ("New York" before "York"), and replacement is one pass: an alias is
  never matched again, so an alias may contain its own grapheme.

Limits, each an error naming the entry (``LexiconError``, code
``invalid_lexicon``): at most ``MAX_ENTRIES`` entries, ``MAX_GRAPHEMES``
graphemes per entry, graphemes of 1 to ``GRAPHEME_MAX`` characters, aliases
and phoneme strings of 1 to ``SPOKEN_MAX`` characters, no grapheme in two
entries, no control characters, no ``[`` or ``]`` in an alias or a phoneme
string (only a lexicon makes phoneme blocks, and only of its phonemes). What one
match becomes (the alias, or the ``[[...]]`` block) may be at most
``GROWTH`` times its grapheme plus ``SLACK`` characters, so a lexicon can
make a text at most ``GROWTH + SLACK`` times longer (a one-character
grapheme), whatever it holds.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from workers.errors import LexiconError, MalformedDocument
from workers.lexicon.ipa import UnknownSymbol, to_espeak
from workers.spoken import Spoken
from workers.voices import ESPEAK

ALPHABETS = ("ipa", "x-espeak")
MAX_ENTRIES = 5000
MAX_GRAPHEMES = 20
GRAPHEME_MAX = 100
SPOKEN_MAX = 200
GROWTH, SLACK = 8, 24
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# espeak-ng mnemonics are printable ASCII; brackets would end the block.
_ESPEAK = re.compile(r"[ -Z\\^-~]+")
# Where a grapheme may start to be looked up: a word, or one other non-space character.
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Entry:
    """How ``graphemes`` are spoken: ``alias`` text, or ``phoneme`` in ``alphabet``."""

    graphemes: tuple[str, ...]
    alias: str | None = None
    phoneme: str | None = None
    alphabet: str | None = None
    spoken: str = field(default="", init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spoken", self._check())

    def _check(self) -> str:
        """What a match is replaced with; ``ValueError`` naming the first problem."""
        if not self.graphemes:
            raise ValueError("has no grapheme")
        if len(self.graphemes) > MAX_GRAPHEMES:
            raise ValueError(f"has more than {MAX_GRAPHEMES} graphemes")
        for grapheme in self.graphemes:
            _check_text("grapheme", grapheme, GRAPHEME_MAX)
            if grapheme != " ".join(grapheme.split()):
                raise ValueError(f"grapheme {grapheme!r} has leading, trailing or double spaces")
        if (self.alias is None) == (self.phoneme is None):
            raise ValueError("needs an alias or a phoneme (one of the two)")
        if self.alias is not None:
            _check_text("alias", self.alias, SPOKEN_MAX)
            if "[" in self.alias or "]" in self.alias:
                # Even one: beside a bracket of the text it would make a [[ block.
                raise ValueError("alias holds '[' or ']' (write phonemes as a phoneme)")
            if self.alphabet is not None:
                raise ValueError("an alias takes no alphabet")
            spoken = self.alias
        else:
            assert self.phoneme is not None
            _check_text("phoneme", self.phoneme, SPOKEN_MAX)
            spoken = f"[[{self._mnemonics(self.phoneme)}]]"
        shortest = min(len(g) for g in self.graphemes)
        if len(spoken) > GROWTH * shortest + SLACK:
            raise ValueError(
                f"speaks {len(spoken)} characters for a {shortest}-character grapheme; "
                f"at most {GROWTH} per grapheme character + {SLACK}"
            )
        return spoken

    def spoken_for(self, engine: str) -> str | None:
        """What a match becomes for ``engine``'s voices; None: left as written.

        espeak-ng gets ``spoken``. Piper reads ``[[...]]`` blocks as IPA
        (its phoneme set is espeak-ng's IPA), so an IPA entry reaches it as
        written; an ``x-espeak`` entry's mnemonics mean nothing to it, and
        the word is read as written rather than garbled.
        """
        if engine == ESPEAK or self.alias is not None:
            return self.spoken
        if self.alphabet == "ipa" and self.phoneme is not None:
            return f"[[{unicodedata.normalize('NFD', self.phoneme)}]]"
        return None

    def _mnemonics(self, phoneme: str) -> str:
        if self.alphabet == "ipa":
            try:
                return to_espeak(phoneme)
            except UnknownSymbol as exc:
                raise ValueError(str(exc)) from None
        if self.alphabet == "x-espeak":
            if not _ESPEAK.fullmatch(phoneme):
                raise ValueError(
                    f"x-espeak phoneme {phoneme!r} must be printable ASCII without '[' or ']'"
                )
            return phoneme
        raise ValueError(f"alphabet {self.alphabet!r} is not one of {', '.join(ALPHABETS)}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"graphemes": list(self.graphemes)}
        if self.alias is not None:
            out["alias"] = self.alias
        else:
            out["phoneme"] = self.phoneme
            out["alphabet"] = self.alphabet
        return out

    @classmethod
    def from_json(cls, item: Any) -> Entry:
        """An entry from ``{"graphemes": [...] | "grapheme": "...", "alias" | "phoneme",
        "alphabet"}``; ``alphabet`` defaults to ``"ipa"`` for a phoneme."""
        if not isinstance(item, dict):
            raise ValueError("must be a JSON object")
        unknown = sorted(set(item) - {"grapheme", "graphemes", "alias", "phoneme", "alphabet"})
        if unknown:
            raise ValueError(f"has unknown field(s) {', '.join(unknown)}")
        if ("grapheme" in item) == ("graphemes" in item):
            raise ValueError("needs grapheme (a string) or graphemes (a list), one of the two")
        graphemes = item["graphemes"] if "graphemes" in item else [item["grapheme"]]
        if not isinstance(graphemes, list) or not all(isinstance(g, str) for g in graphemes):
            raise ValueError("graphemes must be a list of strings")
        for name in ("alias", "phoneme", "alphabet"):
            if not isinstance(item.get(name, ""), str):
                raise ValueError(f"{name} must be a string")
        alphabet = item.get("alphabet", "ipa" if "phoneme" in item else None)
        return cls(
            tuple(_nfc(g) for g in graphemes), item.get("alias"), item.get("phoneme"), alphabet
        )


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _check_text(name: str, value: str, limit: int) -> None:
    if not value.strip():
        raise ValueError(f"{name} is empty")
    if len(value) > limit:
        raise ValueError(f"{name} {value[:20]!r}… is longer than {limit} characters")
    control = _CONTROL.search(value)
    if control is not None:
        raise ValueError(f"{name} {value!r} holds a control character U+{ord(control[0]):04X}")


@dataclass(frozen=True, slots=True)
class Match:
    start: int
    end: int
    entry: Entry
    grapheme: str


class Lexicon:
    """Entries in order; built only from valid entries (``LexiconError`` otherwise)."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        if len(self.entries) > MAX_ENTRIES:
            count = len(self.entries)
            raise LexiconError(f"the lexicon has {count} entries; at most {MAX_ENTRIES}")
        # First token of a grapheme → (grapheme, entry), longest first.
        self._index: dict[str, list[tuple[str, Entry]]] = {}
        seen: dict[str, int] = {}
        for number, entry in enumerate(self.entries, 1):
            for grapheme in entry.graphemes:
                if grapheme in seen:
                    raise LexiconError(
                        f"entry {number} ({grapheme!r}): grapheme {grapheme!r} is already "
                        f"in entry {seen[grapheme]}"
                    )
                seen[grapheme] = number
                first = _TOKEN.match(grapheme)
                assert first is not None  # a grapheme is not blank
                self._index.setdefault(first.group(), []).append((grapheme, entry))
        for candidates in self._index.values():
            candidates.sort(key=lambda pair: -len(pair[0]))
        self._patterns: dict[str, re.Pattern[str]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lexicon) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"Lexicon({len(self.entries)} entries)"

    # -- formats -----------------------------------------------------------
    @classmethod
    def from_json(cls, items: Any) -> Lexicon:
        """A lexicon from a JSON list of entries (see ``Entry.from_json``)."""
        if not isinstance(items, list):
            raise LexiconError("the lexicon must be a JSON list of entries")
        if len(items) > MAX_ENTRIES:
            raise LexiconError(f"the lexicon has {len(items)} entries; at most {MAX_ENTRIES}")
        return cls(_each(items, Entry.from_json, _json_name))

    def to_json(self) -> list[dict[str, Any]]:
        return [entry.to_json() for entry in self.entries]

    @classmethod
    def from_pls(cls, document: bytes) -> Lexicon:
        """A lexicon from a W3C PLS 1.0 document (see ``workers.lexicon.pls``)."""
        from workers.lexicon import pls

        items = pls.parse(document)
        if len(items) > MAX_ENTRIES:
            raise LexiconError(f"the lexicon has {len(items)} entries; at most {MAX_ENTRIES}")
        return cls(_each(items, Entry.from_json, _json_name))

    def to_pls(self) -> bytes:
        from workers.lexicon import pls

        return pls.serialise(self.entries)

    # -- use ---------------------------------------------------------------
    def matches(self, text: str) -> Iterator[Match]:
        """The replacements ``apply`` makes in ``text``, left to right."""
        if not self._index:  # most sites have no lexicon: no need to read the text
            return
        at = 0
        for token in _TOKEN.finditer(text):
            start = token.start()
            if start < at or (start and _word(text[start - 1])):
                continue
            for grapheme, entry in self._index.get(token.group(), ()):
                end = self._match_end(grapheme, text, start)
                if end is not None:
                    yield Match(start, end, entry, grapheme)
                    at = end
                    break

    def _match_end(self, grapheme: str, text: str, start: int) -> int | None:
        if " " in grapheme:
            pattern = self._patterns.get(grapheme)
            if pattern is None:
                pattern = re.compile(r"\s+".join(re.escape(w) for w in grapheme.split(" ")))
                self._patterns[grapheme] = pattern
            found = pattern.match(text, start)
            if found is None:
                return None
            end = found.end()
        else:
            end = start + len(grapheme)
            if not text.startswith(grapheme, start):
                return None
        if end < len(text) and _word(text[end]):
            return None
        return end

    def applicable(self, text: str) -> Lexicon:
        """The entries ``apply(text)`` uses, each cut to the graphemes that occur, in order.

        ``applicable(text).apply(text)`` equals ``apply(text)``, and its
        ``digest`` changes only when an edit changes what ``text`` sounds like.
        """
        return self.applicable_in((text,))

    def applicable_in(self, texts: Iterable[str]) -> Lexicon:
        """``applicable`` for several texts applied one by one (an article's sentences)."""
        used: dict[Entry, set[str]] = {}
        for text in texts:
            for match in self.matches(text):
                used.setdefault(match.entry, set()).add(match.grapheme)
        return Lexicon(
            Entry(tuple(g for g in e.graphemes if g in used[e]), e.alias, e.phoneme, e.alphabet)
            for e in self.entries
            if e in used
        )

    def digest(self) -> str:
        """A stable hash of the entries ("" for none), for cache keys."""
        if not self.entries:
            return ""
        # What is heard: graphemes and what they become (an IPA entry by its
        # mnemonics, so a change to the IPA table re-renders too); order is irrelevant.
        spoken = sorted([list(e.graphemes), e.spoken] for e in self.entries)
        canonical = json.dumps(["lexicon/1", spoken], ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def apply(self, text: str, engine: str = ESPEAK) -> Spoken:
        """``text`` with each match replaced by its alias or ``[[phonemes]]`` block,
        as ``engine``'s voices read them (``Entry.spoken_for``).

        espeak-ng opens a block only after a space (``([[...]]`` is read as
        nothing at all), so a block gets one where the text has none.
        """
        found = ((m, m.entry.spoken_for(engine)) for m in self.matches(text))
        pieces = ((m.start, m.end, _spoken(text, m, said)) for m, said in found if said)
        return Spoken.build(text, pieces)


def _spoken(text: str, match: Match, spoken: str) -> str:
    if match.entry.phoneme is not None and match.start and not text[match.start - 1].isspace():
        return " " + spoken
    return spoken


def _word(char: str) -> bool:
    return _WORD.match(char) is not None


def _json_name(item: Any) -> str:
    if isinstance(item, dict):
        grapheme = item.get("grapheme", (item.get("graphemes") or [None])[0])
        if isinstance(grapheme, str):
            return repr(grapheme[:40])
    return "(unnamed)"


def _each(items: Sequence[Any], make: Any, name: Any) -> Iterator[Entry]:
    for number, item in enumerate(items, 1):
        try:
            yield make(item)
        except ValueError as exc:
            raise LexiconError(f"entry {number} ({name(item)}): {exc}") from None


__all__ = [
    "ALPHABETS",
    "MAX_ENTRIES",
    "Entry",
    "Lexicon",
    "LexiconError",
    "MalformedDocument",
    "Match",
]
