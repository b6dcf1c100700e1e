"""Which language each paragraph is spoken in, and which voice speaks it.

Pure: no Flask, Celery or engine. The rules (docs/languages.md):

1. A paragraph's *script* is the one most of its units are in: a Han or kana
   character, or a word of any other script, counts as one unit, so
   "New World Development 股價今日下跌百分之三。" is Han and "Peter Lam
   (林建岳) said the fair would open" is Latin.
2. A declared language (``<html lang>`` or the article's) is honoured for the
   paragraphs in its script, with its region (``en-us`` stays ``en-us``).
3. Han is Chinese (Japanese if there is kana, or if the page says ``ja``);
   which Chinese: see ``chinese_language``.
4. Hangul, Greek, Thai… are the one language written in them. Other
   paragraphs are detected (lingua, restricted to languages espeak-ng speaks).
   Too short or uncertain: the previous paragraph's language if it was in the
   same script, else English for Latin text, else lingua's best guess.

``speech_runs`` then splits a sentence where a different voice must take over:
Han inside a non-Chinese sentence (espeak-ng's English voice says "Chinese
letter" for each character) and Latin words inside Mandarin (Debian's
espeak-ng 1.51 ``cmn`` voice is broken, see ``voice_for``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from workers.errors import UnknownVoice
from workers.voices import DEFAULT_LANG, Voice, chinese_for_tag, resolve_voice

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Bump when a rule here changes what language a paragraph gets.
RULES = 1
CHINESE = ("yue", "cmn")
TRADITIONAL_DEFAULT = "yue"
# lingua's confidence for its best guess below which a paragraph is "uncertain".
MIN_CONFIDENCE = 0.5
# Fewer letters than this and a detector is guessing.
MIN_LETTERS = 12

# Languages both lingua and espeak-ng 1.51 know, by ISO 639-1 code, less those
# whose script decides them (zh, ja, ko).
_DETECTABLE_CODES = (
    "af ar az be bg bn bs ca cs cy da de el en eo es et eu fa fi fr ga gu he hi hr hu hy "
    "id is it ka kk la lt lv mi mk mr ms nb nl pa pl pt ro ru sk sl sq sr sv sw ta te "
    "th tn tr uk ur vi"
)
DETECTABLE = frozenset(_DETECTABLE_CODES.split(" "))

# Scripts by the first word of a letter's Unicode name; declared languages not
# listed here are written in Latin.
_SCRIPT_OF_LANG = {
    **dict.fromkeys(("zh", "yue", "cmn", "wuu", "hak", "nan", "lzh"), "HAN"),
    "ja": "HAN",
    "ko": "HANGUL",
    **dict.fromkeys(("ru", "uk", "bg", "be", "mk", "kk", "ky", "tt", "ba", "cv", "mn"), "CYRILLIC"),
    **dict.fromkeys(("el", "grc"), "GREEK"),
    **dict.fromkeys(("ar", "fa", "ur", "ps", "sd", "ug"), "ARABIC"),
    **dict.fromkeys(("he", "yi"), "HEBREW"),
    **dict.fromkeys(("hi", "mr", "ne", "sa", "kok"), "DEVANAGARI"),
    **dict.fromkeys(("bn", "as", "bpy"), "BENGALI"),
    "pa": "GURMUKHI",
    "gu": "GUJARATI",
    "or": "ORIYA",
    "ta": "TAMIL",
    "te": "TELUGU",
    "kn": "KANNADA",
    "ml": "MALAYALAM",
    "si": "SINHALA",
    "th": "THAI",
    "my": "MYANMAR",
    "ka": "GEORGIAN",
    "hy": "ARMENIAN",
    "am": "ETHIOPIC",
}
# Scripts that only one language we speak is written in.
_LANG_OF_SCRIPT = {
    "HANGUL": "ko",
    "GREEK": "el",
    "HEBREW": "he",
    "THAI": "th",
    "GEORGIAN": "ka",
    "ARMENIAN": "hy",
    "GURMUKHI": "pa",
    "GUJARATI": "gu",
    "ORIYA": "or",
    "TAMIL": "ta",
    "TELUGU": "te",
    "KANNADA": "kn",
    "MALAYALAM": "ml",
    "SINHALA": "si",
    "MYANMAR": "my",
    "ETHIOPIC": "am",
}
_NAME_TO_SCRIPT = {"CJK": "HAN", "HIRAGANA": "KANA", "KATAKANA": "KANA", "HALFWIDTH": "KANA"}
_TAG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")


def letter_script(ch: str) -> str | None:
    """The script of a letter ("LATIN", "HAN", "KANA", "CYRILLIC"…), None for others."""
    if not ch.isalpha():
        return None
    first = unicodedata.name(ch, "").split(" ", 1)[0]
    return _NAME_TO_SCRIPT.get(first, first) or None


def _units(text: str) -> Counter[str]:
    """Han and kana count per character, other scripts per word."""
    counts: Counter[str] = Counter()
    previous: str | None = None
    for ch in text:
        script = letter_script(ch)
        if script in ("HAN", "KANA") or (script is not None and script != previous):
            counts[script] += 1
        previous = script
    return counts


def paragraph_script(text: str) -> str | None:
    """The script of most of the paragraph's units; "KANA" for Japanese text."""
    units = _units(text)
    kana = units.pop("KANA", 0)
    if kana * 10 >= units["HAN"] + kana > 0:
        units["KANA"] = units.pop("HAN", 0) + kana
    else:
        units["HAN"] += kana
    units = +units
    return units.most_common(1)[0][0] if units else None


def normalise_tag(tag: str | None) -> str | None:
    """A BCP 47 tag in espeak-ng's spelling (``zh_Hant_HK`` → ``zh-hant-hk``), or None."""
    if not tag:
        return None
    code = tag.strip().lower().replace("_", "-")
    return code if _TAG.match(code) else None


def chinese_language(
    text: str,
    declared: str | None = None,
    previous: str | None = None,
    traditional: str = TRADITIONAL_DEFAULT,
) -> str:
    """``yue`` or ``cmn`` for a Chinese paragraph.

    In order: a declared ``yue``/``cmn`` or region (HK, MO → yue; CN, SG, TW,
    MY → cmn: Taiwan writes Traditional and speaks Mandarin); a declared script
    (Hans → cmn, Hant → ``traditional``); the text's characters (Simplified →
    cmn, Traditional → ``traditional``, this publisher's default being
    Cantonese); for text whose characters are common to both, the previous
    Chinese paragraph's language, else ``traditional``.
    """
    import hanzidentifier

    placed = chinese_for_tag(declared, traditional) if declared else None
    if placed is not None:
        return placed
    kind = hanzidentifier.identify(text)
    if kind == hanzidentifier.SIMPLIFIED:
        return "cmn"
    if kind == hanzidentifier.TRADITIONAL:
        return traditional
    return previous if previous in CHINESE else traditional


@cache
def rules_version() -> str:
    """Names everything that decides languages besides the text and the page's ``lang``.

    For cache keys: text + declared lang + ``LISTEN_TRADITIONAL_CHINESE`` +
    this determine ``paragraph_languages``, so the web process can key a job
    without running the detector.
    """
    from importlib.metadata import version

    detector = version("lingua-language-detector")
    return f"languages-{RULES}/lingua-{detector}/hanzidentifier-{version('hanzidentifier')}"


@cache
def _detector() -> LanguageDetector:
    # Low-accuracy mode: trigrams only, ~80 MB and 0.4 s to first answer per
    # process instead of ~1 GB and 8 s (docs/languages.md has the numbers).
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in sorted(DETECTABLE)]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()


def warm_up() -> None:
    """Load the detector now (a worker calls this at start) rather than on first use."""
    _detector().detect_language_of("warm up")


def detect(text: str) -> tuple[str | None, bool]:
    """lingua's best guess at a paragraph's language, and whether it is sure.

    Unsure: fewer than ``MIN_LETTERS`` letters, or confidence below
    ``MIN_CONFIDENCE``.
    """
    letters = sum(ch.isalpha() for ch in text)
    values = _detector().compute_language_confidence_values(text) if letters else []
    if not values:
        return None, False
    best = values[0]
    sure = letters >= MIN_LETTERS and best.value >= MIN_CONFIDENCE
    return best.language.iso_code_639_1.name.lower(), sure


def _script_of(lang: str | None) -> str | None:
    if lang is None:
        return None
    return _SCRIPT_OF_LANG.get(lang.split("-")[0], "LATIN")


def paragraph_languages(
    paragraphs: Sequence[str],
    declared: str | None,
    *,
    traditional: str = TRADITIONAL_DEFAULT,
    before: Sequence[str] = (),
) -> list[str]:
    """The espeak-ng language code to speak each paragraph in (rules: module docstring).

    ``declared`` is the page's ``lang`` (any BCP 47 spelling, or None);
    ``traditional`` is the language for Traditional Chinese that no region
    places (``LISTEN_TRADITIONAL_CHINESE``). ``before``: what this returned
    for the paragraphs before these (a paragraph's language depends only on
    those before it, so an article can be decided a part at a time).
    """
    if traditional not in CHINESE:
        raise ValueError(f"traditional must be one of {CHINESE}, got {traditional!r}")
    tag = normalise_tag(declared)
    declared_script = _script_of(tag)
    result: list[str] = list(before)
    previous: str | None = result[-1] if result else None
    for text in paragraphs:
        script = paragraph_script(text)
        lang: str | None
        if script is None:
            lang = previous or tag or DEFAULT_LANG
        elif script == "KANA" or (script == "HAN" and tag is not None and tag.startswith("ja")):
            lang = "ja"
        elif script == "HAN":
            last_chinese = next((x for x in reversed(result) if x in CHINESE), None)
            lang = chinese_language(text, tag, last_chinese, traditional)
        elif script == declared_script:
            lang = tag
        elif script in _LANG_OF_SCRIPT:
            lang = _LANG_OF_SCRIPT[script]
        else:
            guess, sure = detect(text)
            if guess is not None and _script_of(guess) != script:
                guess, sure = None, False
            if sure:
                lang = guess
            elif _script_of(previous) == script:
                lang = previous
            else:
                # An English voice reads Latin text passably; it cannot read Cyrillic.
                lang = DEFAULT_LANG if script == "LATIN" else guess
        lang = lang or DEFAULT_LANG
        result.append(lang)
        previous = lang
    return result[len(before) :]


def speech_runs(
    text: str,
    lang: str,
    *,
    declared: str | None = None,
    traditional: str = TRADITIONAL_DEFAULT,
) -> list[tuple[int, int, str]]:
    """Split a sentence spoken in ``lang`` where another voice must read a part.

    Returns ``(start, end, lang)`` runs covering ``text`` in order; one run
    when no switch is needed. Latin words inside a Mandarin sentence are read
    in English; Han inside a sentence of a non-Han language is read in Chinese
    (``chinese_language`` of the run, the page's ``declared`` region first:
    names on a ``zh-HK`` page's English paragraph are Cantonese). Cantonese
    keeps its Latin words:
    espeak-ng's ``yue`` voice reads them by its English rules itself.
    """
    base = lang.split("-")[0]
    if base == "cmn":
        foreign = "LATIN"
    elif _script_of(base) == "HAN":
        return [(0, len(text), lang)]
    else:
        foreign = "HAN"
    runs: list[tuple[int, int, str]] = []
    start = 0
    for a, b in _spans(text, foreign):
        if a > start:
            runs.append((start, a, lang))
        if foreign == "LATIN":
            other = "en"
        else:
            other = chinese_language(text[a:b], declared, None, traditional)
        runs.append((a, b, other))
        start = b
    if start < len(text) or not runs:
        runs.append((start, len(text), lang))
    return runs


def _spans(text: str, script: str) -> list[tuple[int, int]]:
    """Spans of ``script`` letters, joined across spaces and light punctuation.

    Digits join a Latin span only when attached to it (``COVID-19``,
    ``iPhone15``), so "Apple 2024年" leaves the year to the Chinese voice.
    """
    joiners = " '\u2019-.&" if script == "LATIN" else "·・"
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if letter_script(text[i]) != script:
            i += 1
            continue
        end = j = i
        while j < len(text):
            ch = text[j]
            if letter_script(ch) == script or (script == "LATIN" and ch.isdigit() and j == end):
                end = j + 1
            elif ch not in joiners:
                break
            j += 1
        spans.append((i, end))
        i = end
    return spans


def voice_for(lang: str, voices: Sequence[Voice]) -> Voice:
    """The installed voice for a language code from ``paragraph_languages``.

    ``resolve_voice``'s choice (Mandarin is ``sit/cmn-latn-pinyin``, to which
    ``speech_runs`` gives no Latin words; Cantonese ``sit/yue``); a language
    with no voice falls back to English: a page's ``lang`` is not the
    reader's error.
    """
    code = normalise_tag(lang) or DEFAULT_LANG
    for candidate in (code, code.split("-")[0], DEFAULT_LANG):
        try:
            return resolve_voice(voices, lang=candidate)
        except UnknownVoice:
            continue
    return resolve_voice(voices)
