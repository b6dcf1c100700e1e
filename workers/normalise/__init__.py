"""The English text normaliser: written tokens rewritten as a newsreader says them.

``normalise("research funding reached CNY223.4 billion (US$31.3 billion)")`` gives the
text "… two hundred and twenty-three point four billion yuan (thirty-one point three
billion US dollars)" and a ``Span`` for each rewritten token that maps it back to the
written one. Rules live by class in the modules beside this one (see
docs/normalisation.md); number words come from ``num2words``.

Only English gets the full rule set. For other languages only the noise rules apply
(reference markers, repeated punctuation, emoji). ``[[...]]`` blocks (phonemes from the
lexicon) are copied through untouched in every language.
"""

from __future__ import annotations

import re
from functools import cache

from workers.normalise import abbreviations, contact, dates, money, noise, numbers, roman, units
from workers.normalise.rules import Rule, apply
from workers.spoken import Spoken

# Part of the audio cache key: bump it whenever any rule's output changes.
NORMALISER_VERSION = "en-1"

DATE_ORDERS = ("dmy", "mdy")
_PHONEMES = re.compile(r"\[\[.*?\]\]")


def is_english(lang: str) -> bool:
    """``en``, ``en-GB``, ``en_us`` …: the languages that get the English rules."""
    return lang.lower().replace("_", "-").split("-")[0] == "en"


@cache
def rules_for(lang: str, date_order: str = "dmy") -> tuple[Rule, ...]:
    """The rules ``normalise`` applies, in priority order."""
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {DATE_ORDERS}, not {date_order!r}")
    if not is_english(lang):
        return noise.RULES
    return (
        *noise.RULES,
        *contact.RULES,
        *dates.rules(date_order),
        *money.RULES,
        *units.RULES,
        *numbers.RULES,
        *abbreviations.RULES,
        *roman.RULES,
        *abbreviations.ACRONYMS,
    )


def normalise(text: str, lang: str = "en", *, date_order: str = "dmy") -> Spoken:
    """``text`` (one prepared sentence) as it should be spoken, with spans that map each
    rewritten token back to ``text``. ``date_order`` says how ``01/02/2024`` reads."""
    protected = [m.span() for m in _PHONEMES.finditer(text)] if "[[" in text else []
    return Spoken.build(text, apply(text, rules_for(lang, date_order), protected))


__all__ = ["DATE_ORDERS", "NORMALISER_VERSION", "is_english", "normalise"]
