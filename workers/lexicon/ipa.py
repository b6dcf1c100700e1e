"""English IPA → espeak-ng phoneme mnemonics, by table.

espeak-ng reads ``[[...]]`` as its own phoneme mnemonics (docs/phonemes.md
of espeak-ng; close to Kirshenbaum's ASCII IPA but not equal to it), so a
pronunciation written in IPA is converted before it reaches the engine.

``TABLE`` maps IPA sequences to the mnemonics of espeak-ng's English phoneme
table; the converter takes the longest sequence that matches at each point
(so ``eɪ`` is one diphthong, not ``e`` + ``ɪ``, and ``tʃ`` one affricate).
The targets are those espeak-ng itself pairs with each IPA symbol when it
transcribes English (``espeak-ng -x`` against ``--ipa``); tests check the
converter against that pairing on real words.

Symbols that carry no sound of their own are dropped: syllable breaks
(``.``), linking (``‿``), aspiration (``ʰ``) and length marks (``ː``, ``ˑ``)
after a vowel that has no long form here (espeak-ng's vowels carry their own
length). Anything else not in the table is an error naming the symbol, never
a silent guess.
"""

from __future__ import annotations

import unicodedata

# IPA → espeak-ng (English). Several spellings of one sound (ɡ/g, t͡ʃ/tʃ/ʧ,
# r/ɹ) map to the same mnemonic.
TABLE: dict[str, str] = {
    # Plosives, fricatives, affricates.
    "p": "p",
    "b": "b",
    "t": "t",
    "d": "d",
    "k": "k",
    "g": "g",
    "ɡ": "g",
    "ʔ": "?",
    "f": "f",
    "v": "v",
    "θ": "T",
    "ð": "D",
    "s": "s",
    "z": "z",
    "ʃ": "S",
    "ʒ": "Z",
    "h": "h",
    "x": "x",
    "tʃ": "tS",
    "t͡ʃ": "tS",
    "ʧ": "tS",
    "dʒ": "dZ",
    "d͡ʒ": "dZ",
    "ʤ": "dZ",
    # The American flap is a quick t in espeak-ng's English.
    "ɾ": "t",
    # Nasals, approximants.
    "m": "m",
    "n": "n",
    "ŋ": "N",
    "l": "l",
    "ɫ": "l",
    "r": "r",
    "ɹ": "r",
    "j": "j",
    "w": "w",
    "ʍ": "w",
    # Syllabic consonants (combining U+0329 below).
    "n̩": "@n",
    "m̩": "@m",
    "l̩": "@L",
    # Monophthongs.
    "iː": "i:",
    "i": "i",
    "ɪ": "I",
    "ᵻ": "I#",
    "ɨ": "I#",
    "e": "E",
    "ɛ": "E",
    "æ": "a",
    "a": "a",
    "ɐ": "a#",
    "ɑː": "A:",
    "ɑ": "A:",
    "ɒ": "0",
    "ɔː": "O:",
    "ɔ": "O:",
    "oː": "o:",
    "o": "o:",
    "ʊ": "U",
    "uː": "u:",
    "u": "u:",
    "ʉː": "u:",
    "ʉ": "u:",
    "ʌ": "V",
    "ɜː": "3:",
    "ɜ": "3:",
    "ɝː": "3:",
    "ɝ": "3:",
    "ɚ": "3",
    "ə": "@",
    "ɛː": "e@",
    # Diphthongs and triphthongs.
    "eɪ": "eI",
    "aɪ": "aI",
    "ɑɪ": "aI",
    "ɔɪ": "OI",
    "aʊ": "aU",
    "əʊ": "oU",
    "oʊ": "oU",
    "ɪə": "i@",
    "iə": "i@",
    "eə": "e@",
    "ɛə": "e@",
    "ʊə": "U@",
    "aɪə": "aI@",
    "aʊə": "aU@",
    # Stress, word break.
    "ˈ": "'",
    "ˌ": ",",
    " ": " ",
}
SILENT = frozenset({".", "‿", "ʰ", "ː", "ˑ", "\u0306"})  # U+0306: extra-short
ACCENTS = {"'": "ˈ", "’": "ˈ", ":": "ː"}  # ASCII look-alikes people type for IPA marks
_LONGEST = max(len(k) for k in TABLE)


class UnknownSymbol(ValueError):
    """An IPA symbol the table does not cover; ``symbol`` is it."""

    def __init__(self, symbol: str, ipa: str) -> None:
        name = unicodedata.name(symbol[0], "unnamed")
        super().__init__(
            f"IPA symbol {symbol!r} (U+{ord(symbol[0]):04X} {name}) in {ipa!r} is not supported"
        )
        self.symbol = symbol


def to_espeak(ipa: str) -> str:
    """``ipa`` as espeak-ng English mnemonics, or ``UnknownSymbol`` for the first unknown one."""
    text = unicodedata.normalize("NFC", " ".join(ipa.split()))
    text = "".join(ACCENTS.get(c, c) for c in text).strip("/[] ")
    out: list[str] = []
    at = 0
    while at < len(text):
        for size in range(min(_LONGEST, len(text) - at), 0, -1):
            piece = text[at : at + size]
            if piece in TABLE:
                out.append(TABLE[piece])
                at += size
                break
        else:
            char = text[at]
            if char not in SILENT:
                raise UnknownSymbol(char, ipa)
            at += 1
    return "".join(out)
