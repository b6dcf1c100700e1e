"""Rules for measures: a number (or a range of two) and a unit, ``5km``, ``-4°C``,
``100 sq m``, ``120 km/h``, ``3.5bn``.

The unit is said in the singular for one, and where the measure qualifies a noun after
"a"/"an" ("a 5km run" → "a five kilometre run"); in the plural otherwise. A bare ``m``
after a number is "metres" before a word of size or distance ("1.8m tall") or after
"a"/"an" unless money follows ("a 300m tower", but "a 5m deal"); otherwise "million"
("1m tonnes").
"""

from __future__ import annotations

import re

from workers.normalise import words
from workers.normalise.rules import Reading, Rule, rule, wordset

NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"

# written unit: (singular, plural); a scale word has no plural.
UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometre per hour", "kilometres per hour"),
    "km/hr": ("kilometre per hour", "kilometres per hour"),
    "kph": ("kilometre per hour", "kilometres per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "m/s": ("metre per second", "metres per second"),
    "km": ("kilometre", "kilometres"),
    "cm": ("centimetre", "centimetres"),
    "mm": ("millimetre", "millimetres"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "mi": ("mile", "miles"),
    "ha": ("hectare", "hectares"),
    "ml": ("millilitre", "millilitres"),
    "mL": ("millilitre", "millilitres"),
    "L": ("litre", "litres"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "ºC": ("degree Celsius", "degrees Celsius"),
    "℃": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"),
    "GW": ("gigawatt", "gigawatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "MWh": ("megawatt hour", "megawatt hours"),
    "GWh": ("gigawatt hour", "gigawatt hours"),
    "TWh": ("terawatt hour", "terawatt hours"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "yr": ("year", "years"),
    "yrs": ("year", "years"),
    "k": ("thousand", "thousand"),
    "bn": ("billion", "billion"),
    "tn": ("trillion", "trillion"),
    "trn": ("trillion", "trillion"),
    "mn": ("million", "million"),
}
_SQUARE = ("sq ", "sq. ", "square ")
_METRE_AFTER = wordset(
    "tall long high wide deep away above below under apart sprint race hurdles freestyle "
    "final dash relay hurdle dive jump swim run walk"
)
_MONEY_AFTER = wordset(
    "deal contract fine budget increase rise loss profit investment project plan package bid "
    "grant fund payment order boost cut shortfall deficit surplus debt bill bonus salary stake "
    "valuation sale purchase takeover settlement donation loan subsidy"
)
_UNIT_ALT = "|".join(re.escape(u) for u in sorted([*UNITS, "m"], key=len, reverse=True))
_PATTERN = (
    rf"(?<![\w.,])([-\u2212]?)({NUM})(?: ?[-\u2013] ?({NUM}))? ?"
    rf"(sq\.? |square )?({_UNIT_ALT})([²2](?!\d))?(?![\w/°])"
)
_ARTICLE_BEFORE = re.compile(r"\b(?:a|an|A|An)\s+$")
_THE_BEFORE = re.compile(r"\b(?:the|The)\s+$")
_NEXT_WORD = re.compile(r"[-\s]*([A-Za-z]+)")


@rule("measure", _PATTERN)
def _measure(m: re.Match[str]) -> Reading:
    sign, first, second, square, unit, squared = m.groups()
    text = m.string
    attributive = bool(_ARTICLE_BEFORE.search(text, max(0, m.start() - 4), m.start()))
    nxt = _NEXT_WORD.match(text, m.end())
    next_word = nxt.group(1).lower() if nxt else ""
    if unit == "m":
        the = bool(_THE_BEFORE.search(text, max(0, m.start() - 4), m.start()))
        counted = next_word in _MONEY_AFTER or next_word.endswith("s")
        metres = next_word in _METRE_AFTER or ((attributive or the) and not counted)
        names = ("metre", "metres") if metres or square or squared else ("million", "million")
    else:
        names = UNITS[unit]
    if squared and unit == "2" and not square:
        return None
    one = not second and first in ("1", "1.0") and not sign
    name = names[0] if one or attributive else names[1]
    if square or squared:
        name = "square " + name
    spoken = ("minus " if sign else "") + words.number(first)
    if second:
        spoken += " to " + words.number(second)
    return f"{spoken} {name}"


@rule("feet and inches", r"(?<![\w.,])(\d+) ?(?:ft|feet|foot|')(?: |,? )?(\d+) ?(?:in\b|\"|inches)")
def _feet_inches(m: re.Match[str]) -> Reading:
    return f"{words.cardinal(int(m.group(1)))} feet {words.cardinal(int(m.group(2)))} inches"


@rule("pence", rf"(?<![\w.,])({NUM})p\b")
def _pence(m: re.Match[str]) -> Reading:
    return f"{words.number(m.group(1))} {'penny' if m.group(1) == '1' else 'pence'}"


RULES: tuple[Rule, ...] = (_feet_inches, _pence, _measure)
