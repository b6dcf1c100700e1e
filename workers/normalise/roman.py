"""Rules for Roman numerals in regnal names and headings.

After a heading word ("Part", "Chapter", "World War", "Phase", …) a Roman numeral is a
cardinal: "Part IV" → "part four". After any other capitalised name it is a regnal
ordinal: "Charles III" → "Charles the third". A numeral must contain I, V or X and be
at most 100 (so "Washington DC" or "MD" stay letters); a one-letter numeral ("I", "V",
"X") only counts after a name that kings and popes bear, since "Then I" and "Malcolm X"
are far more common than "James I".
"""

from __future__ import annotations

import re

from workers.normalise import words
from workers.normalise.rules import Reading, Rule, rule, wordset

_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
_HEADINGS = wordset(
    "part chapter section book volume vol act scene phase round article schedule title stage "
    "level class type grade annex appendix item step division category tier war episode "
    "bowl apollo vatican mark mk"
)
_REGNAL = wordset(
    "Charles Elizabeth James William Henry Edward George Richard Mary Peter Nicholas "
    "Alexander Louis Napoleon Frederick Francis John Paul Philip Victor Ferdinand Wilhelm "
    "Catherine Leo Pius Benedict Gregory Innocent Clement Boniface Urban Felix Harald Olaf "
    "Carl Gustav Haakon Juan Carlos Ramesses Rama Willem Albert Baudouin Felipe Umberto "
    "Constantine Justinian Otto Rudolf Ludwig Selim Mehmed Suleiman Ivan Anne Stephen "
    "David Robert Alfonso"
)
# Capitalised words that are no names: "The II Corps" is not "the the second".
_NOT_NAMES = wordset(
    "The A An In Of And For To At On By With From That This Then When If Its As But Or So"
)
_ROMAN = r"(?=[IVXLC])C?(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"


def roman_value(s: str) -> int:
    total = 0
    for a, b in zip(s, s[1:] + " ", strict=True):
        v = _VALUES[a]
        total += -v if b != " " and _VALUES[b] > v else v
    return total


@rule("roman numeral", rf"\b([A-Z][a-z]+\.?) ({_ROMAN})\b(?!['\u2019-]\w)")
def _roman(m: re.Match[str]) -> Reading:
    name, numeral = m.group(1), m.group(2)
    if not numeral or not set(numeral) & set("IVX"):
        return None
    value = roman_value(numeral)
    if not 0 < value <= 100:
        return None
    at = m.start(2), m.end(2)
    if name.rstrip(".").lower() in _HEADINGS:
        return [(*at, words.cardinal(value))]
    if name in _NOT_NAMES or (len(numeral) == 1 and name not in _REGNAL):
        return None
    return [(*at, "the " + words.ordinal(value))]


RULES: tuple[Rule, ...] = (_roman,)
