"""Rules for bare numbers: ranges, decades, ordinals, fractions, percentages, codes such
as ``G20`` or ``A380``, years, negatives and plain cardinals and decimals.

A four-digit whole number from 1000 to 2099 is read as a year ("twenty nineteen") when its
neighbours say it is one: a preposition or article before it ("in", "since", "the", …),
a month name, or nothing but punctuation, a capitalised word or "and"/"to" after it.
Otherwise it is a count ("1500 people" → "one thousand five hundred people").
"""

from __future__ import annotations

import re

from workers.normalise import words
from workers.normalise.rules import Reading, Rule, rule, wordset

# A written number: 1,234,567.89 or 1234.5 or 12.
NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
DASH = "-\u2013\u2014"

_YEAR_BEFORE = wordset(
    "in since by from to until till of between and before after during the circa c. early "
    "late mid year years fiscal spring summer autumn fall winter or around through throughout "
    "than its their his her our "
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_YEAR_AFTER = re.compile(r"\s*(?:$|[.,;:!?)\]\u2013\u2014/\"']|and\b|to\b|or\b|[A-Z])")
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)\W*$")


def is_year(text: str, start: int, end: int) -> bool:
    """Whether the whole number ``text[start:end]`` reads as a year where it stands."""
    s = text[start:end]
    if len(s) != 4 or not s.isdigit() or not 1000 <= int(s) < 2100:
        return False
    before = _WORD_BEFORE.search(text, max(0, start - 20), start)
    if before and before.group(1).lower() in _YEAR_BEFORE:
        return True
    return bool(_YEAR_AFTER.match(text, end))


def read_number(text: str, start: int, end: int) -> str:
    """``text[start:end]``, a written number, as words (a year where it reads as one)."""
    s = text[start:end]
    if is_year(text, start, end):
        return words.year(int(s))
    if len(s) > 1 and s[0] == "0" and s.isdigit():
        return words.digits(s, zero="oh")
    return words.number(s)


# A number ends where no digit, decimal part or word goes on from it ("6-4," is a score).
_END = r"(?![\w/]|[.,]\d)"


@rule(
    "range",
    rf"(?<![\w.,/{DASH}])({NUM})(?: ?%)? ?[{DASH}] ?({NUM}){_END}(?![{DASH}]\w)( ?%)?",
)
def _range(m: re.Match[str]) -> Reading:
    text = m.string
    percent = m.group(3) or "%" in m.group()
    a, b = m.group(1), m.group(2)
    # Two four-digit numbers rising within 1000-2099 are a span of years wherever they stand.
    both = a.isdigit() and b.isdigit() and len(a) == len(b) == 4 and 1000 <= int(a) < int(b) < 2100
    years = both or is_year(text, m.start(1), m.end(1))
    a_words = words.year(int(a)) if years else read_number(text, m.start(1), m.end(1))
    if years and len(b) == 2:  # 1995-96
        b_words = words.cardinal(int(b))
    elif years and b.isdigit() and 1000 <= int(b) < 2100:
        b_words = words.year(int(b))
    else:
        b_words = read_number(text, m.start(2), m.end(2))
    joined = f"{a_words} {b_words}" if m.group(1) == b else f"{a_words} to {b_words}"
    return joined + (" percent" if percent else "")


@rule("split year", r"(?<![\w/.,])(1\d|20)(\d\d)/(\d\d)(?![\w/])")
def _split_year(m: re.Match[str]) -> Reading:
    first = words.year(int(m.group(1) + m.group(2)))
    return f"{first} to {words.cardinal(int(m.group(3)))}"


@rule("decade", r"(?<![\w'])(?:(1[0-9]|20)([0-9]0)|'([0-9]0)|([2-9]0))s\b")
def _decade(m: re.Match[str]) -> Reading:
    if m.group(1):
        return words.plural(words.year(int(m.group(1) + m.group(2))))
    return words.plural(words.cardinal(int(m.group(3) or m.group(4))))


@rule("ordinal", r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)\b")
def _ordinal(m: re.Match[str]) -> Reading:
    return words.ordinal(int(m.group(1).replace(",", "")))


# Denominators read as fractions; "9/11" or "24/7" are names, read "nine eleven".
_DENOMINATORS = frozenset((2, 3, 4, 5, 6, 8, 10, 12, 16, 32, 64, 100))


def _fraction_words(num: int, den: int) -> str | None:
    if not 0 < num < den or den not in _DENOMINATORS:
        return None
    return words.fraction(num, den)


@rule("mixed fraction", r"(?<![\w/.,])(\d+) (\d+)/(\d+)(?![\w/])")
def _mixed(m: re.Match[str]) -> Reading:
    whole, num, den = (int(g) for g in m.groups())
    part = _fraction_words(num, den)
    if part is None:
        return None
    if num == 1:
        part = "a " + part.split(" ", 1)[1]
    return f"{words.cardinal(whole)} and {part}"


@rule("fraction", r"(?<![\w/.,])(\d+)/(\d+)(?![\w/])")
def _fraction(m: re.Match[str]) -> Reading:
    num, den = int(m.group(1)), int(m.group(2))
    spoken = _fraction_words(num, den)
    if spoken is None and num < 100 and den < 100:
        return f"{words.cardinal(num)} {words.cardinal(den)}"
    return spoken


@rule("percent", rf"(?<![\w.,])([-\u2212]?)({NUM}) ?%")
def _percent(m: re.Match[str]) -> Reading:
    sign = "minus " if m.group(1) else ""
    return sign + words.number(m.group(2)) + " percent"


@rule("code", r"\b(?:([Ff]light|[Rr]oute|[Bb]us|[Tt]rain) )?([A-Z]{1,3})(\d{1,4})\b")
def _code(m: re.Match[str]) -> Reading:
    letters = " ".join(m.group(2))
    digits = m.group(3)
    if m.group(1):
        spoken = words.digits(digits, zero="oh")
        return [(m.start(2), m.end(3), f"{letters} {spoken}")]
    return f"{letters} {words.pairs(digits)}"


@rule("number and letter", r"\b(\d{1,4})([A-Z])\b")
def _digit_letter(m: re.Match[str]) -> Reading:
    return f"{words.pairs(m.group(1))} {m.group(2)}"


@rule("plus", r"(?<=\d)\+(?!\w)")
def _plus(m: re.Match[str]) -> Reading:
    return " plus"


@rule("times", rf"(?<![\w.,])({NUM}) ?[x\u00d7] ?({NUM})\b|(?<![\w.,])({NUM})x\b")
def _times(m: re.Match[str]) -> Reading:
    if m.group(3):
        return words.number(m.group(3)) + " times"
    return f"{words.number(m.group(1))} by {words.number(m.group(2))}"


@rule("operator", r"(?<=\d) ?([+=]) ?(?=[-\u2212]?\d)")
def _operator(m: re.Match[str]) -> Reading:
    return " plus " if m.group(1) == "+" else " equals "


@rule("negative", rf"(?<![\w.,)%])[-\u2212]({NUM})(?![\w.])")
def _negative(m: re.Match[str]) -> Reading:
    return "minus " + words.number(m.group(1))


@rule("number", rf"(?<!\d)(?<!\d\.)(?:{NUM})(?!\d)")
def _number(m: re.Match[str]) -> Reading:
    return read_number(m.string, m.start(), m.end())


RULES: tuple[Rule, ...] = (
    _range,
    _split_year,
    _decade,
    _ordinal,
    _mixed,
    _fraction,
    _percent,
    _code,
    _digit_letter,
    _plus,
    _times,
    _operator,
    _negative,
    _number,
)
