"""Voices and the settings that shape speech: pure data and validation.

Kept apart from ``workers.engine`` so that choosing a voice and checking a
rate can be tested, and done by the web side, without a speech engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workers.errors import EngineUnavailable, InvalidSetting, UnknownVoice

# espeak-ng's own limits for words per minute; outside them it clamps silently.
RATE_MIN, RATE_MAX, RATE_DEFAULT = 80, 450, 175
PITCH_MIN, PITCH_MAX, PITCH_DEFAULT = 0, 99, 50
VOLUME_MIN, VOLUME_MAX, VOLUME_DEFAULT = 0.1, 1.0, 1.0
DEFAULT_LANG = "en"

# The engines a voice may belong to. espeak-ng's voice ids are bare
# ("gmw/en-us"); every other engine's carry its name ("piper:en_US-joe-medium").
ESPEAK = "espeak-ng"
PIPER = "piper"
ENGINES = (ESPEAK, PIPER)
# The longest text an engine is given at once, where it is less than the
# pipeline's: Piper's memory grows with the sentence it renders, ~1 MB a
# character over a 170 MB base (258 characters peaked at 430 MB, 507 at 696 MB,
# 1,016 at 1,131 MB, measured), so longer sentences are said in clauses.
PIECE_CHARS = {PIPER: 250}
# The most of an article's first sentence said before a reader hears anything,
# where the engine is slow enough for it to matter: Piper takes ~0.06 s of CPU
# a second of speech, so a whole first sentence of 200 characters kept the
# first audio near 1 s; its opening clause alone (up to its last clause break
# within this many characters, ``text.split``) is heard in about a third of that.
FIRST_PIECE_CHARS = {PIPER: 100}


@dataclass(frozen=True, slots=True)
class Voice:
    id: str  # espeak-ng identifier, e.g. "gmw/en-us"; "piper:en_US-joe-medium"
    name: str  # e.g. "English (America)"
    languages: tuple[str, ...]  # e.g. ("en-us",)
    gender: str | None  # "male", "female" or None
    engine: str = ESPEAK
    # What makes this voice sound as it does besides its id (a model's digest
    # and its engine's version); part of the cache key. Empty for espeak-ng,
    # whose keys stay as they were.
    version: str = ""
    licence: str | None = None  # the voice's own licence, where its files say

    def speaks(self, lang: str) -> bool:
        """Whether one of its languages is ``lang``'s (by primary subtag: en-us speaks en-gb)."""
        base = lang.split("-")[0]
        return any(code.split("-")[0] == base for code in self.languages)

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "languages": list(self.languages),
            "gender": self.gender,
            "engine": self.engine,
        }
        if self.engine != ESPEAK:
            found["licence"] = self.licence
        return found


def engine_of(voice_id: str) -> str:
    """The engine a voice id names: ``piper:…`` is Piper's, anything else espeak-ng's."""
    prefix, sep, _ = voice_id.strip().partition(":")
    return prefix.lower() if sep and prefix.lower() in ENGINES else ESPEAK


def piece_chars(voice_id: str, chunk_chars: int) -> int:
    """How much of a sentence ``voice_id``'s engine is given at once (``PIECE_CHARS``)."""
    return min(chunk_chars, PIECE_CHARS.get(engine_of(voice_id), chunk_chars))


def first_piece_chars(voice_id: str, chunk_chars: int) -> int:
    """How much of an article's first sentence ``voice_id``'s engine is given first."""
    return min(
        piece_chars(voice_id, chunk_chars), FIRST_PIECE_CHARS.get(engine_of(voice_id), chunk_chars)
    )


def check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    """Raise ``InvalidSetting`` naming the setting unless ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidSetting(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise InvalidSetting(f"{name} must be between {low} and {high}{unit}, got {value}")


def _norm_lang(code: str) -> str:
    return code.strip().lower().replace("_", "-")


# Debian's espeak-ng 1.51 ``sit/cmn`` reads each character as English-spelled
# pinyin with its tone digit ("ni three hao three", espeak-ng issue 1236); the
# pinyin voice reads Han correctly. ``sit/yue`` reads Latin words as English.
PREFERRED_VOICE = {"cmn": "sit/cmn-latn-pinyin", "yue": "sit/yue"}
# Tags pages use for languages espeak-ng knows by another code: deprecated ISO
# codes, and Norwegian (Nynorsk read by the Bokmål voice beats no voice).
LANG_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "no": "nb", "nn": "nb"}


def chinese_for_tag(code: str, traditional: str = "yue") -> str | None:
    """``yue`` or ``cmn`` for a Chinese language tag, None if the tag does not say.

    yue/cmn as such; a region (HK, MO → yue; CN, SG, TW, MY → cmn: Taiwan
    writes Traditional and speaks Mandarin); a script (Hans → cmn, Hant →
    ``traditional``). None for a bare ``zh`` and for other languages.
    """
    parts = _norm_lang(code).split("-")
    if parts[0] in ("yue", "cmn"):
        return parts[0]
    if parts[0] != "zh":
        return None
    rest = set(parts[1:])
    if rest & {"yue", "hk", "mo"}:
        return "yue"
    if rest & {"cmn", "cn", "sg", "tw", "my", "hans"}:
        return "cmn"
    return traditional if "hant" in rest else None


def resolve_voice(
    voices: Sequence[Voice], *, voice: str | None = None, lang: str | None = None
) -> Voice:
    """Pick the voice for a request: by id (or name), else by language code.

    A voice id may be given in full (``gmw/en-us``) or by its last part
    (``en-us``); names match case-insensitively. A language matches exactly
    first, then any regional variant (``en`` → ``en-us``), then the base
    language of a regional code (``pt-xx`` → ``pt``). Chinese tags become
    ``yue`` or ``cmn`` (``chinese_for_tag``; bare ``zh`` is ``cmn``, as in
    espeak-ng), each with its ``PREFERRED_VOICE`` when installed; other
    ``LANG_ALIASES`` are followed. With neither, English.
    """
    if voice is not None and voice.strip():
        wanted = voice.strip().lower()
        for v in voices:
            if wanted in (v.id.lower(), v.id.lower().rsplit("/", 1)[-1], v.name.lower()):
                return v
        engine = engine_of(wanted)
        if engine != ESPEAK and not any(v.engine == engine for v in voices):
            raise EngineUnavailable(
                f"voice {voice!r} needs the {engine} engine, which this server does not have "
                f"(no {engine} voices are installed: pip install 'listen[neural]' and a voice)"
            )
        raise UnknownVoice(
            f"unknown voice {voice!r}; GET /api/v1/voices or `listen-service voices` lists them"
        )
    # By language, espeak-ng's voices only: another engine's voice is only
    # ever read by name, so the voices chosen for languages stay as they were.
    voices = [v for v in voices if v.engine == ESPEAK]
    if not voices:
        raise UnknownVoice("no voices are installed")
    code = _norm_lang(lang) if lang and lang.strip() else DEFAULT_LANG
    if code.split("-")[0] == "zh":
        code = chinese_for_tag(code) or "cmn"
    code = LANG_ALIASES.get(code.split("-")[0], code)
    base = code.split("-")[0]
    for candidates in (
        [v for v in voices if v.id.lower() == PREFERRED_VOICE.get(code)],
        [v for v in voices if code in v.languages],
        # espeak-ng lists only a voice's first language (gmw/en says en-gb),
        # so the voice file named after the code is its own best match.
        [v for v in voices if v.id.lower().rsplit("/", 1)[-1] == code],
        [v for v in voices if any(lang_.startswith(code + "-") for lang_ in v.languages)],
        [v for v in voices if base in v.languages],
        [v for v in voices if v.id.lower().rsplit("/", 1)[-1] == base],
    ):
        if candidates:
            return candidates[0]
    raise UnknownVoice(f"no voice for language {lang!r}")
