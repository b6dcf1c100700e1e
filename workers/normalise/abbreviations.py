"""Rules for titles, abbreviations and acronyms.

Titles: ``Dr``, ``Mr``, ``Mrs``, ``Ms``, ``Prof`` and the like are said in full. ``St`` is
"saint" before a capitalised name and "street" after one; ``Dr`` is "drive" after a
name when no name follows. ``No.`` before a number is "number". Latin and office
abbreviations (``e.g.``, ``i.e.``, ``etc.``, ``vs.``, ``approx.``) are said in full.

Acronyms (a word of capitals, two letters or more) are said letter by letter ("GDP" →
"G D P") unless they can be said as a word. The rule: a word of four letters or more
whose capitals read like an English syllable chain \u2014 it has a vowel, no run of three
consonants or three vowels, and begins and ends with a consonant pair English allows
("NASA", "NATO", "UNESCO", "OPEC", "COVID") \u2014 or one in a short list of known words;
``LETTERS`` lists the exceptions said as letters though they look like words ("ICAC").
A sentence written mostly in capitals is a headline, not a string of acronyms, and is
left alone.
"""

from __future__ import annotations

import re

from workers.normalise.rules import Reading, Rule, rule, wordset

_VOWELS = frozenset("AEIOU")
_ONSETS = wordset(
    "BL BR CH CL CR DR FL FR GL GR KL KN KR PH PL PR QU SC SH SK SL SM SN SP ST SW TH TR TW WH WR"
)
_CODAS = wordset(
    "CH CK CT FT GS LD LF LK LL LM LP LS LT MP MS ND NG NK NS NT NZ PS PT RB RC RD RK RL RM "
    "RN RP RS RT SH SK SP SS ST TH TS TZ XT"
)
WORDS = wordset("AIDS SARS MERS NASDAQ IKEA LEGO ASEAN UEFA")
LETTERS = wordset("ICAC IATA OECD HKSAR USSR")


def _pronounceable(word: str) -> bool:
    w = word.upper()
    if w in WORDS:
        return True
    if w in LETTERS or len(w) < 4 or not w.isalpha():
        return False
    kinds = "".join("v" if c in _VOWELS or (c == "Y" and i) else "c" for i, c in enumerate(w))
    if "v" not in kinds or "ccc" in kinds or "vvv" in kinds:
        return False
    if kinds.startswith("cc") and w[:2] not in _ONSETS:
        return False
    return not (kinds.endswith("cc") and w[-2:] not in _CODAS)


def say_letters(word: str) -> str:
    """``word`` as it is said: unchanged when it reads as a word, else letter by letter."""
    if word.islower() and len(word) >= 4 and any(c in "aeiouy" for c in word[1:]):
        return word
    return word if _pronounceable(word) else " ".join(word.upper())


_BEFORE_NAME = {
    "Mr": "mister", "Mrs": "missus", "Ms": "miz", "Mx": "mix", "Dr": "doctor",
    "Prof": "professor", "St": "saint", "Sen": "senator", "Gov": "governor",
    "Rep": "representative", "Gen": "general", "Lt": "lieutenant", "Col": "colonel",
    "Capt": "captain", "Sgt": "sergeant", "Rev": "reverend", "Fr": "father", "Mt": "mount",
    "Pres": "president", "Supt": "superintendent", "Insp": "inspector", "Det": "detective",
    "Hon": "honourable", "Cllr": "councillor", "Gov't": "government",
}  # fmt: skip
_ALWAYS_TITLE = wordset("Mr Mrs Ms Mx Prof")
_AFTER_NAME = {
    "St": "street", "Rd": "road", "Ave": "avenue", "Blvd": "boulevard", "Dr": "drive",
    "Ln": "lane", "Hwy": "highway", "Jr": "junior", "Sr": "senior",
}  # fmt: skip
_PLAIN = {
    "e.g.": "for example", "eg.": "for example", "i.e.": "that is", "ie.": "that is",
    "etc.": "et cetera", "etc": "et cetera", "vs.": "versus", "vs": "versus",
    "approx.": "approximately", "approx": "approximately", "Inc.": "incorporated",
    "Inc": "incorporated", "Ltd": "limited", "Ltd.": "limited", "Corp.": "corporation",
    "Bros.": "brothers", "Dept": "department", "Dept.": "department", "Govt": "government",
    "govt": "government", "Intl": "international", "ext.": "extension", "ca.": "circa",
    "y/y": "year on year", "m/m": "month on month", "q/q": "quarter on quarter",
    "yoy": "year on year", "cf.": "compare", "viz.": "namely", "p.a.": "per year",
    "a.k.a.": "also known as",
}  # fmt: skip
_NAME = re.compile(r" (?:[A-Z][\w'\u2019]|\d)")


def _keep_stop(m: re.Match[str], spoken: str) -> str:
    # An abbreviation's full stop at the end of the sentence is also the sentence's.
    return spoken + "." if m.group().endswith(".") and m.end() == len(m.string) else spoken


_NAME_BEFORE = re.compile(r"(?:[A-Z][\w'\u2019]*|\d+(?:st|nd|rd|th)?) $")
_TITLES = "|".join(sorted({*_BEFORE_NAME, *_AFTER_NAME}, key=len, reverse=True))


@rule("title", rf"(?<![\w.'\u2019])({_TITLES})\b\.?")
def _title(m: re.Match[str]) -> Reading:
    word = m.group(1)
    text = m.string
    name_follows = bool(_NAME.match(text, m.end()))
    name_before = bool(_NAME_BEFORE.search(text, max(0, m.start() - 30), m.start()))
    if word in _BEFORE_NAME and (name_follows or word in _ALWAYS_TITLE):
        if word in _AFTER_NAME and name_before and not name_follows:
            return _keep_stop(m, _AFTER_NAME[word])
        return _BEFORE_NAME[word]
    if word in _AFTER_NAME and name_before:
        return _keep_stop(m, _AFTER_NAME[word])
    return None


_BEFORE_NUMBER = {"No": "number", "no": "number", "Nos": "numbers", "nos": "numbers",
                  "#": "number", "p": "page", "pp": "pages"}  # fmt: skip


@rule("number sign", r"(?<![\w.])(?:(No|Nos)\.?|(no|nos|p|pp)\.|(#)) ?(?=\d)")
def _number_sign(m: re.Match[str]) -> Reading:
    return _BEFORE_NUMBER[m.group(1) or m.group(2) or m.group(3)] + " "


_PLAIN_ALT = "|".join(re.escape(a) for a in sorted(_PLAIN, key=len, reverse=True))


@rule("abbreviation", rf"(?<![\w.])(?:{_PLAIN_ALT})(?!\w)")
def _plain(m: re.Match[str]) -> Reading:
    if m.string.startswith(".", m.end()) and m.group() + "." in _PLAIN:
        return None  # the longer, dotted form is matched on its own
    return _keep_stop(m, _PLAIN[m.group()])


def _shouting(text: str) -> bool:
    words = re.findall(r"[A-Za-z]{2,}", text)
    caps = sum(1 for w in words if w.isupper())
    return caps >= 3 and caps * 5 >= len(words) * 3


@rule("acronym", r"\b[A-Z]{2,}s?\b")
def _acronym(m: re.Match[str]) -> Reading:
    word = m.group()
    if _shouting(m.string):
        return None
    plural = word.endswith("s")
    core = word[:-1] if plural else word
    spoken = say_letters(core)
    if spoken == core:
        return None
    return spoken + ("'s" if plural else "")


RULES: tuple[Rule, ...] = (_title, _number_sign, _plain)
ACRONYMS: tuple[Rule, ...] = (_acronym,)
