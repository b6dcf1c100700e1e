"""Number words: the one place that asks ``num2words`` to spell a number.

Everything else in the normaliser builds on these few readings: a cardinal,
an ordinal, a year as a newsreader says it, a decimal, digits one by one.
"""

from __future__ import annotations

from num2words import num2words

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def cardinal(n: int) -> str:
    """``1234`` → "one thousand, two hundred and thirty-four" (commas dropped)."""
    if n < 0:
        return "minus " + cardinal(-n)
    return str(num2words(n)).replace(",", "")


def ordinal(n: int) -> str:
    """``26`` → "twenty-sixth"."""
    return str(num2words(n, to="ordinal")).replace(",", "")


def digits(s: str, zero: str = "zero") -> str:
    """``"0958"`` → "oh nine five eight" with ``zero="oh"``."""
    return " ".join(zero if c == "0" else _DIGITS[int(c)] for c in s if c.isdigit())


def number(s: str) -> str:
    """A written number, separators allowed: ``"1,234.50"`` → "one thousand two hundred and
    thirty-four point five zero"; a leading minus sign is read "minus"."""
    s = s.replace(",", "")
    sign = ""
    if s[:1] in "-\u2212":
        sign, s = "minus ", s[1:]
    whole, _, frac = s.partition(".")
    words = cardinal(int(whole)) if whole else "zero"
    if frac:
        words += " point " + digits(frac)
    return sign + words


def year(n: int) -> str:
    """A year as read aloud: 1997 "nineteen ninety-seven", 2005 "two thousand and five",
    2019 "twenty nineteen", 1900 "nineteen hundred"."""
    if n < 1000 or n >= 10000:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return cardinal(n) if high % 10 == 0 else cardinal(high) + " hundred"
    if low < 10 and high % 10 == 0:
        return cardinal(n)
    return cardinal(high) + " " + (cardinal(low) if low >= 10 else "oh " + cardinal(low))


def pairs(s: str) -> str:
    """A model or room number in pairs: ``"380"`` → "three eighty", ``"1204"`` → "twelve oh
    four"; other lengths are read as a cardinal."""
    if len(s) == 3 and s[1] != "0" and s[0] != "0":
        return cardinal(int(s[0])) + " " + cardinal(int(s[1:]))
    if len(s) == 4 and s[0] != "0" and s[2] != "0":
        return cardinal(int(s[:2])) + " " + cardinal(int(s[2:]))
    if len(s) == 4 and s[0] != "0" and s[3] != "0":
        return cardinal(int(s[:2])) + " oh " + cardinal(int(s[3]))
    return cardinal(int(s))


_PLURAL_ENDINGS = (("y", "ies"), ("x", "xes"))


def plural(words: str) -> str:
    """The plural of a number's last word: "nineteen ninety" → "nineteen nineties"."""
    for end, repl in _PLURAL_ENDINGS:
        if words.endswith(end):
            return words[: -len(end)] + repl
    return words + "s"


def fraction(num: int, den: int) -> str:
    """``3/4`` → "three quarters", ``1/2`` → "one half", ``2/3`` → "two thirds"."""
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    else:
        name = ordinal(den)
        if num != 1:
            name = plural(name)
    return cardinal(num) + " " + name
