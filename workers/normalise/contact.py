"""Rules for telephone numbers, web addresses and e-mail addresses.

A telephone number is read digit by digit ("oh" for zero), its groups separated by a
pause: ``+852 2584 4333`` → "plus eight five two, two five eight four, four three three
three". A number without ``+`` is taken for a telephone number only after a word such as
"call", "tel" or "hotline".

Addresses drop ``http(s)://``; ``www`` is "w w w", dots "dot", ``/`` "slash", ``@`` "at".
Each name between them is said as a word when it can be (``example``, ``news``, ``com``)
and letter by letter when it cannot (``hktdc``, ``bbc``, ``uk``), by the same rule as
acronyms (see ``abbreviations.say_letters``).
"""

from __future__ import annotations

import re

from workers.normalise import words
from workers.normalise.abbreviations import say_letters
from workers.normalise.rules import Reading, Rule, rule, wordset

_PHONE_CUE = (
    r"\b(?:[Tt]el|[Tt]elephone|[Pp]hone|[Cc]all|[Hh]otline|[Ff]ax|[Dd]ial|[Mm]obile|[Ww]hatsApp)\b"
)
_GROUPS = r"\(?\d{1,4}\)?(?:[ -]\d{2,4}){1,4}"
# Emergency and service numbers, said digit by digit after "call" or "dial".
_SHORT_NUMBERS = wordset("999 911 112 000 111 101 110 119 120 988 995")
_SAID_AS_WORD = wordset("com org net gov edu info co io news www")


def _phone_words(number: str) -> str:
    groups = re.findall(r"\+?\d+", number)
    spoken = [("plus " if g[0] == "+" else "") + words.digits(g, zero="oh") for g in groups]
    return ", ".join(spoken)


@rule("international phone", r"(?<![\w+])\+\d{1,3}[ -]" + _GROUPS + r"(?!\w)")
def _international(m: re.Match[str]) -> Reading:
    return _phone_words(m.group())


# Words that may stand between the cue and the number: "call us on 2833 4333".
_BETWEEN = r"(?: (?:us|me|him|her|them|on|at|the|our|their|number|line|hotline|now))*"


@rule("phone", _PHONE_CUE + r"\.?:?" + _BETWEEN + r":? ?(" + _GROUPS + r"|\d{3})(?![\w-])")
def _phone(m: re.Match[str]) -> Reading:
    digits = re.sub(r"\D", "", m.group(1))
    if len(digits) < 6 and m.group(1) not in _SHORT_NUMBERS:
        return None
    return [(m.start(1), m.end(1), _phone_words(m.group(1)))]


def _name(part: str) -> str:
    if part.lower() == "www":
        return "w w w"
    if part.isdigit():
        return words.digits(part)
    if part.lower() in _SAID_AS_WORD:
        return part
    return say_letters(part)


def say_address(address: str) -> str:
    """``www.hktdc.com/en`` → "w w w dot h k t d c dot com slash en"."""
    out: list[str] = []
    for token in re.split(r"([./@:?=&_-])", address):
        if token == ".":
            out.append("dot")
        elif token == "/":
            out.append("slash")
        elif token == "@":
            out.append("at")
        elif token == "-":
            out.append("dash")
        elif token == "_":
            out.append("underscore")
        elif token:
            out.append(_name(token) if token.isalnum() else token)
    return " ".join(out)


@rule("url", r"\b(?:https?://)?(?:www\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
      r"\.(?:com|org|net|gov|edu|info|io|hk|uk|cn|sg|au|us|eu|de|fr|jp|tw|mo|int)\b"
      r"(?:/[^\s]*[^\s.,;:!?)\"'])?/?(?![\w@])")  # fmt: skip
def _url(m: re.Match[str]) -> Reading:
    s = m.group()
    if "." not in s:
        return None
    s = re.sub(r"^https?://", "", s).rstrip("/")
    return say_address(s)


@rule("email", r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
def _email(m: re.Match[str]) -> Reading:
    local, _, domain = m.group().partition("@")
    return f"{' dot '.join(_name(p) if p.isalnum() else p for p in local.split('.'))} at " + (
        say_address(domain)
    )


@rule("local phone", r"(?<![\w.,+-])(\d{4})[ -](\d{4})(?![\w-]|[.,]\d)")
def _local(m: re.Match[str]) -> Reading:
    # Two groups of four digits are a number in Hong Kong's or Singapore's style, unless
    # the first could be a year ("between 2019 2020" is a typo, not a telephone).
    if 1000 <= int(m.group(1)) < 2100:
        return None
    return _phone_words(m.group())


RULES: tuple[Rule, ...] = (_email, _url, _international, _phone, _local)
