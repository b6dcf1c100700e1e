"""Word marks from a neural voice's phoneme alignments.

Piper says a text as phonemes (espeak-ng's, in IPA) and, with an aligned
model, tells how many audio samples each phoneme took. Its phonemes are
grouped in words by spaces, but not the text's words: espeak-ng runs
unstressed words into the next ("on the" is one "ɔnðə"), so counting spaces
would put every later word on the wrong sound. Instead each word of the text
is phonemised alone and the words' phonemes, end to end, are lined up with
what was said (``difflib``: longest common runs, the rest in proportion).
A word then starts at the sound its first phoneme lines up with. Stress and
length marks, pauses and punctuation are left out of the comparison: they
change with context, the sounds mostly do not.

Pure logic: ``workers.neural`` supplies the phonemes and the samples, and
``workers.words`` turns the marks into the timings' words, as it does for
espeak-ng's word events.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher

from workers.engine import WordMark

# Marks that are not sounds: stress, length, and Piper's pad, start and end.
_MARKS = frozenset("ˈˌːˑ_^$")


def sounds(phonemes: Sequence[str]) -> list[str]:
    """The phonemes that are sounds (what the comparison uses): no marks, no
    pauses (spaces) and no punctuation."""
    return [
        p for p in phonemes if p and p not in _MARKS and unicodedata.category(p[0])[0] not in "PZC"
    ]


def word_marks(
    words: Sequence[tuple[int, int]],
    word_phonemes: Sequence[Sequence[str]],
    said: Sequence[tuple[str, int]],
    sample_rate: int,
) -> list[WordMark]:
    """Marks for ``words`` (character spans), each phonemised alone as
    ``word_phonemes``, in the utterance ``said`` ((phoneme, first sample) in order).

    A word none of whose sounds can be placed, or placed no later than the
    word before it, gets no mark: ``workers.words.piece_words`` then counts it
    with the word before it, as it does for espeak-ng's joined words.
    """
    spoken = [(p, at) for p, at in said if sounds([p])]
    expected: list[str] = []
    firsts: list[int | None] = []
    for phonemes in word_phonemes:
        own = sounds(phonemes)
        firsts.append(len(expected) if own else None)
        expected.extend(own)
    if not spoken or not expected:
        return []
    place = _placer(expected, [p for p, _ in spoken])
    marks: list[WordMark] = []
    last = -1
    for (start, end), first in zip(words, firsts, strict=True):
        if first is None:
            continue
        at = place(first)
        if at is None or at <= last:
            continue
        last = at
        marks.append(WordMark(start, end, spoken[at][1] * 1000 // sample_rate))
    return marks


def _placer(expected: Sequence[str], spoken: Sequence[str]) -> Callable[[int], int | None]:
    """Where in ``spoken`` each position of ``expected`` was said."""
    matcher = SequenceMatcher(None, expected, spoken, autojunk=False)
    opcodes = matcher.get_opcodes()

    def place(i: int) -> int | None:
        for tag, i1, i2, j1, j2 in opcodes:
            if not i1 <= i < i2:
                continue
            if tag == "equal":
                return j1 + (i - i1)
            if j1 == j2:  # not said where expected: where it would have been
                return j1 if j1 < len(spoken) else None
            # Said differently: in proportion across what was said instead.
            return j1 + (i - i1) * (j2 - j1) // (i2 - i1)
        return None

    return place
