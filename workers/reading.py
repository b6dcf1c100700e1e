"""How each sentence is read: its language, its voices, and the words the engine gets.

The page shows the written sentence; the engine is given its spoken form.
For each sentence of a prepared text, in order:

1. its paragraph's language (``workers.languages``: the page's declared
   language, or the one detected where a paragraph is in another script or
   nothing was declared);
2. the site's lexicon (``workers.lexicon``): the entries the web side found
   in this article, applied first, so that an editor's word wins;
3. the parts another voice must read (Chinese names in an English sentence,
   English words in a Mandarin one: ``languages.speech_runs``), each
   normalised for its language (``workers.normalise``: numbers, money,
   dates, abbreviations… as a newsreader says them) and given its voice.

The result maps back to the written sentence (``workers.spoken``), so
timings and highlighting keep pointing at what the page shows. Nothing here
knows of Flask or Celery.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

from workers.languages import (
    TRADITIONAL_DEFAULT,
    paragraph_languages,
    rules_version,
    speech_runs,
    voice_for,
)
from workers.lexicon import Lexicon
from workers.normalise import NORMALISER_VERSION, normalise
from workers.spoken import Spoken, compose
from workers.text import PreparedText
from workers.voices import Voice, engine_of

DATE_ORDERS = ("dmy", "mdy")


def reading_version() -> str:
    """Part of every cache key: a change to how text is read changes the audio."""
    return f"normalise-{NORMALISER_VERSION}/{rules_version()}"


@dataclass(frozen=True, slots=True)
class Part:
    """``Reading.spoken.text[start:end]``, read by one voice."""

    voice_id: str
    lang: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Reading:
    """One sentence as the engine reads it: its language, spoken form and parts."""

    index: int
    lang: str
    spoken: Spoken  # from the sentence's cleaned text
    parts: tuple[Part, ...]

    def texts(self) -> list[tuple[str, str]]:
        """``(voice id, text)`` of each part that has something to say."""
        return [(voice, text) for voice, text, _ in self.placed_texts()]

    def placed_texts(self) -> list[tuple[str, str, int]]:
        """``texts()``, each with where it starts in ``spoken.text``."""
        found = []
        for p in self.parts:
            raw = self.spoken.text[p.start : p.end]
            text = raw.strip()
            if text:
                found.append((p.voice_id, text, p.start + len(raw) - len(raw.lstrip())))
        return found


def read(
    prepared: PreparedText,
    *,
    voice: Voice,
    voices: Sequence[Voice],
    declared: str | None,
    lexicon: Lexicon,
    date_order: str = "dmy",
    traditional: str = TRADITIONAL_DEFAULT,
) -> Iterator[Reading]:
    """Each sentence of ``prepared`` with its language, voices and spoken form, as needed.

    ``voice`` (the one the request chose) reads what is in its language; a
    part in another language gets that language's voice. Lazy: the first
    sentence is ready before the rest of the article is looked at.
    """
    paragraphs = [
        " ".join(s.text for s in group)
        for _, group in groupby(prepared.sentences, key=lambda s: s.paragraph)
    ]
    languages = _languages(paragraphs, declared, traditional)
    langs: list[str] = []
    voice_ids: dict[str, str] = {}

    def voice_of(lang: str) -> str:
        if lang not in voice_ids:
            voice_ids[lang] = _voice_id(lang, voice, voices)
        return voice_ids[lang]

    for sentence in prepared.sentences:
        while len(langs) <= sentence.paragraph:
            langs.append(next(languages))
        lang = langs[sentence.paragraph]
        # As the voice of the sentence's language reads phonemes (Piper: IPA).
        entries = lexicon.apply(sentence.text, engine_of(voice_of(lang)))
        text = entries.text
        # A phoneme block must reach one voice whole; such sentences are rare.
        runs = (
            [(0, len(text), lang)]
            if "[[" in text
            else speech_runs(text, lang, declared=declared, traditional=traditional)
        )
        pieces: list[tuple[int, int, str]] = []
        parts: list[Part] = []
        out = 0
        for start, end, run_lang in runs:
            said = normalise(text[start:end], run_lang, date_order=date_order)
            pieces += _shifted(said, start)
            parts.append(Part(voice_of(run_lang), run_lang, out, out + len(said.text)))
            out += len(said.text)
        spoken = compose(entries, Spoken.build(text, pieces))
        yield Reading(sentence.index, lang, spoken, tuple(parts))


def _languages(paragraphs: list[str], declared: str | None, traditional: str) -> Iterator[str]:
    """``paragraph_languages``, a growing part at a time: 1 paragraph, then 4, 16…

    Each paragraph's language depends only on those before it, so the parts
    give what the whole would, and the first sentences do not wait for the
    detector to read the whole article (0.2 to 0.4 s for 10,000 words).
    """
    done: list[str] = []
    size = 1
    while len(done) < len(paragraphs):
        part = paragraphs[len(done) : len(done) + size]
        found = paragraph_languages(part, declared, traditional=traditional, before=done)
        yield from found
        done += found
        size *= 4


def _shifted(said: Spoken, src: int) -> list[tuple[int, int, str]]:
    """``said``'s pieces, for a run that starts at ``src`` in the sentence.

    The runs cover the sentence in order, so the sentence rebuilt from all
    their pieces is the runs' spoken texts end to end.
    """
    return [
        (src + s.src_start, src + s.src_end, said.text[s.out_start : s.out_end]) for s in said.spans
    ]


def _voice_id(lang: str, chosen: Voice, voices: Sequence[Voice]) -> str:
    if chosen.speaks(lang):
        return chosen.id
    return voice_for(lang, voices).id
