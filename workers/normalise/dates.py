"""Rules for dates and times of day.

Dates: ``12 March 2024`` → "the twelfth of March twenty twenty-four"; ``March 12, 2024``
and ``2024-03-12`` → "March twelfth, twenty twenty-four"; ``12/03/2024`` is day first or
month first as the caller's ``date_order`` says ("dmy" or "mdy"); month abbreviations
(``Jan.``, ``Sept``) are said in full. Times: ``3:30pm`` → "three thirty p m", ``09:05`` →
"nine oh five", ``14:00`` → "fourteen hundred", ``11pm`` → "eleven p m".
"""

from __future__ import annotations

import re

from workers.normalise import words
from workers.normalise.rules import Reading, Rule, rule

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ABBREVIATIONS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "Jun": 6, "Jul": 7, "Aug": 8,
    "Sep": 9, "Sept": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(MONTHS)} | _ABBREVIATIONS
_MONTHS = r"(?:" + "|".join(MONTHS) + r")\b|(?:" + "|".join(_ABBREVIATIONS) + r")\b\.?"
_MONTH = f"({_MONTHS})"


def _the(m: re.Match[str]) -> str:
    """ "the " before a day said as an ordinal, unless the text already has it."""
    return "" if m.string[max(0, m.start() - 4) : m.start()].lower() == "the " else "the "


def _month(written: str) -> str:
    return MONTHS[_MONTH_NUMBER[written.rstrip(".")] - 1]


def _month_first(month: int, day: int, year: str | None) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    spoken = f"{MONTHS[month - 1]} {words.ordinal(day)}"
    return spoken + (f", {words.year(_full_year(year))}" if year else "")


def _day_first(day: int, month: int, year: str | None) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    spoken = f"the {words.ordinal(day)} of {MONTHS[month - 1]}"
    return spoken + (f" {words.year(_full_year(year))}" if year else "")


def _full_year(year: str) -> int:
    n = int(year)
    if len(year) == 2:
        n += 2000 if n < 50 else 1900
    return n


@rule("iso date", r"\b(\d{4})-(\d{2})-(\d{2})\b")
def _iso(m: re.Match[str]) -> Reading:
    return _month_first(int(m.group(2)), int(m.group(3)), m.group(1))


def numeric_date(order: str) -> Rule:
    """``12/03/2024`` read day first (``order="dmy"``) or month first (``"mdy"``)."""

    @rule("numeric date", r"(?<![\w/.])(\d{1,2})([/.])(\d{1,2})\2(\d{4}|\d{2})(?![\w/])")
    def read(m: re.Match[str]) -> Reading:
        a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
        if order == "mdy":
            return _month_first(a, b, year)
        return _day_first(a, b, year)

    return read


@rule("day month", rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?{_MONTH}(?:,? (\d{{4}})\b)?")
def _day_month(m: re.Match[str]) -> Reading:
    day = int(m.group(1))
    if not 1 <= day <= 31:
        return None
    spoken = f"{_the(m)}{words.ordinal(day)} of {_month(m.group(2))}"
    return spoken + (f" {words.year(int(m.group(3)))}" if m.group(3) else "")


_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"


@rule("day range", rf"\b{_DAY} ?[-\u2013] ?{_DAY} {_MONTH}(?: (\d{{4}})\b)?")
def _day_range(m: re.Match[str]) -> Reading:
    first, last = int(m.group(1)), int(m.group(2))
    if not 1 <= first < last <= 31:
        return None
    spoken = f"{_the(m)}{words.ordinal(first)} to the {words.ordinal(last)} of {_month(m.group(3))}"
    return spoken + (f" {words.year(int(m.group(4)))}" if m.group(4) else "")


@rule("month day", rf"\b{_MONTH} (\d{{1,2}})(?:st|nd|rd|th)?\b(?!:)(?:,? (\d{{4}})\b)?")
def _month_day(m: re.Match[str]) -> Reading:
    day = int(m.group(2))
    if not 1 <= day <= 31:
        return None
    spoken = f"{_month(m.group(1))} {words.ordinal(day)}"
    return spoken + (f", {words.year(int(m.group(3)))}" if m.group(3) else "")


@rule("month year", rf"\b{_MONTH} (\d{{4}})\b")
def _month_year(m: re.Match[str]) -> Reading:
    return f"{_month(m.group(1))} {words.year(int(m.group(2)))}"


def _clock(hour: int, minute: int, twelve_hour: bool) -> str:
    if minute == 0:
        if twelve_hour:
            return words.cardinal(hour)
        return words.cardinal(hour) + " hundred" if hour else "midnight"
    if minute < 10:
        return f"{words.cardinal(hour)} oh {words.cardinal(minute)}"
    return f"{words.cardinal(hour)} {words.cardinal(minute)}"


@rule("time", r"\b([01]?\d|2[0-3])(?:[:.]([0-5]\d))? ?([ap])\.?m\b\.?(?!\w)", re.IGNORECASE)
def _time_ampm(m: re.Match[str]) -> Reading:
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12:
        return None
    spoken = f"{_clock(hour, minute, True)} {m.group(3).lower()} m"
    # A final "p.m." also ends the sentence: keep its full stop.
    return spoken + "." if m.group().endswith(".") and m.end() == len(m.string) else spoken


@rule("24-hour time", r"(?<![\w:.])([01]?\d|2[0-3]):([0-5]\d)(?![\w:])")
def _time(m: re.Match[str]) -> Reading:
    return _clock(int(m.group(1)), int(m.group(2)), False)


@rule("ratio", r"(?<![\w:.])(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)(?![\w:])")
def _ratio(m: re.Match[str]) -> Reading:
    return f"{words.number(m.group(1))} to {words.number(m.group(2))}"


_WEEKDAYS = {
    "Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday",
    "Thu": "Thursday", "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday",
    "Sat": "Saturday", "Sun": "Sunday",
}  # fmt: skip


@rule("weekday", r"\b(" + "|".join(_WEEKDAYS) + r")\b\.?(?=,? (?:\d|" + _MONTHS + "))")
def _weekday(m: re.Match[str]) -> Reading:
    return _WEEKDAYS[m.group(1)]


def rules(date_order: str) -> tuple[Rule, ...]:
    """The date and time rules, numeric dates read in ``date_order``."""
    return (_weekday, _iso, numeric_date(date_order), _day_range, _day_month, _month_day,
            _month_year, _time_ampm, _time, _ratio)  # fmt: skip
