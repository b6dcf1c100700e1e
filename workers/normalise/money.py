"""Rules for money: a currency sign or code, an amount, and perhaps a scale word.

``£240m`` → "two hundred and forty million pounds", ``HK$2.4bn`` → "two point four
billion Hong Kong dollars", ``$2.50`` → "two dollars fifty", ``$0.99`` → "ninety-nine
cents", ``RMB 100 million`` → "one hundred million yuan". ``¥`` is read "yen" (the sign is
shared with the yuan; Chinese news writes RMB or CNY). A code or sign that follows the
amount (``100 USD``) is read the same way.
"""

from __future__ import annotations

import re

from workers.normalise import words
from workers.normalise.rules import Reading, Rule, rule

NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"

# sign or code: (singular, plural, minor unit singular, minor plural or "" if none said)
CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "US$": ("US dollar", "US dollars", "cent", "cents"),
    "HK$": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "S$": ("Singapore dollar", "Singapore dollars", "cent", "cents"),
    "A$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "AU$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "C$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "CA$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "NZ$": ("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "NT$": ("New Taiwan dollar", "New Taiwan dollars", "", ""),
    "MOP$": ("pataca", "patacas", "", ""),
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "", ""),
    "₩": ("won", "won", "", ""),
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "HKD": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "SGD": ("Singapore dollar", "Singapore dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "NZD": ("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "TWD": ("New Taiwan dollar", "New Taiwan dollars", "", ""),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""),
    "CNY": ("yuan", "yuan", "", ""),
    "RMB": ("yuan", "yuan", "", ""),
    "CHF": ("Swiss franc", "Swiss francs", "", ""),
    "INR": ("rupee", "rupees", "", ""),
    "KRW": ("won", "won", "", ""),
    "MOP": ("pataca", "patacas", "", ""),
}
SCALES: dict[str, str] = {
    "k": "thousand",
    "thousand": "thousand",
    "m": "million",
    "mn": "million",
    "mln": "million",
    "million": "million",
    "b": "billion",
    "bn": "billion",
    "billion": "billion",
    "tn": "trillion",
    "trn": "trillion",
    "trillion": "trillion",
}
_SIGNS = "|".join(re.escape(c) for c in sorted(CURRENCIES, key=len, reverse=True))
_SCALE = "|".join(sorted(SCALES, key=len, reverse=True))
_CODES = "|".join(c for c in CURRENCIES if c.isalpha())
_BEFORE = (
    rf"(?<![\w$])([-\u2212]?)({_SIGNS}) ?({NUM})"
    rf"(?: ?[-\u2013] ?({NUM}))?(?: ?({_SCALE})\b)?(?![\w$])"
)
_AFTER = rf"(?<![\w.,])({NUM})(?: ?({_SCALE}))? ?({_CODES})\b"


def _say(amount: str, scale: str | None, currency: str, to: str | None = None) -> str:
    one, many, minor, minors = CURRENCIES[currency]
    if scale:
        spoken = words.number(amount)
        if to:
            spoken += " to " + words.number(to)
        return f"{spoken} {SCALES[scale.lower()]} {many}"
    whole, _, cents = amount.replace(",", "").partition(".")
    if to:
        return f"{words.number(amount)} to {words.number(to)} {many}"
    if len(cents) == 2 and minor:
        major = int(whole or 0)
        if major == 0:
            return f"{words.cardinal(int(cents))} {minor if cents == '01' else minors}"
        head = f"{words.cardinal(major)} {one if major == 1 else many}"
        return head if cents == "00" else f"{head} {words.cardinal(int(cents))}"
    if not cents and whole == "1":
        return f"one {one}"
    return f"{words.number(amount)} {many}"


@rule("money", _BEFORE)
def _money(m: re.Match[str]) -> Reading:
    sign, currency, amount, to, scale = m.groups()
    spoken = _say(amount, scale, currency, to)
    return ("minus " if sign else "") + spoken


@rule("money after", _AFTER)
def _money_after(m: re.Match[str]) -> Reading:
    amount, scale, currency = m.groups()
    return _say(amount, scale, currency)


RULES: tuple[Rule, ...] = (_money, _money_after)
