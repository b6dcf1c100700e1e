"""Find the espeak-ng library and the ffmpeg binary, system first.

A machine with Debian's ``espeak-ng`` and ``ffmpeg`` packages uses them. A
machine without them falls back to the builds that ship inside pip packages
(``espeakng-loader`` carries libespeak-ng with its voice data,
``imageio-ffmpeg`` carries an ffmpeg binary), so that ``pip install`` alone
gives a working engine and encoder, without root.

The choice can be forced for tests and odd deployments with
``LISTEN_ESPEAK`` and ``LISTEN_FFMPEG``: ``auto`` (default), ``system``,
``bundled``, or (ffmpeg only) a path to a binary.

pyttsx3's espeak driver opens ``libespeak-ng.so.1`` by its soname when it is
first imported. Loading the bundled library with that soname beforehand makes
the dynamic loader hand the driver the already-loaded copy, so the fallback
needs no change to pyttsx3. That is why ``load_espeak`` must run before the
first ``import pyttsx3`` in a process (``workers.engine`` takes care of it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from workers.errors import ConfigError, EncoderError, EngineError

_CHOICES = ("auto", "system", "bundled")


@dataclass(frozen=True, slots=True)
class EspeakLibrary:
    source: str  # "system" or "bundled"
    path: str  # what was handed to dlopen
    data_path: str | None  # ESPEAK_DATA_PATH set for the bundled build


def _choice(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "auto").strip() or "auto"
    if value not in _CHOICES and not (name == "LISTEN_FFMPEG" and os.sep in value):
        raise ConfigError(f"{name} must be one of {', '.join(_CHOICES)} (got {value!r})")
    return value


def _load_system_espeak() -> EspeakLibrary | None:
    for name in ("libespeak-ng.so.1", ctypes.util.find_library("espeak-ng")):
        if not name:
            continue
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        return EspeakLibrary("system", name, None)
    return None


def _load_bundled_espeak() -> EspeakLibrary:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EngineError(
            "espeak-ng is not installed and the espeakng-loader fallback is missing: "
            "install the espeak-ng package or `pip install espeakng-loader`"
        ) from exc
    lib_dir = os.path.dirname(espeakng_loader.get_library_path())
    path = os.path.join(lib_dir, "libespeak-ng.so.1")
    if not os.path.exists(path):
        path = espeakng_loader.get_library_path()
    data_path = espeakng_loader.get_data_path()
    # Read by espeak_Initialize when pyttsx3 passes no path; only set for the
    # bundled build, whose compiled-in data path does not exist here.
    os.environ["ESPEAK_DATA_PATH"] = data_path
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise EngineError(f"cannot load the bundled espeak-ng library {path}: {exc}") from exc
    return EspeakLibrary("bundled", path, data_path)


@cache
def load_espeak(choice: str = "auto") -> EspeakLibrary:
    """Load libespeak-ng into this process (once) and say which build it is."""
    if choice in ("auto", "system"):
        found = _load_system_espeak()
        if found is not None:
            return found
        if choice == "system":
            raise EngineError("LISTEN_ESPEAK=system but libespeak-ng.so.1 is not installed")
    return _load_bundled_espeak()


def espeak_choice(env: Mapping[str, str] | None = None) -> str:
    return _choice(os.environ if env is None else env, "LISTEN_ESPEAK")


@cache
def _find_ffmpeg(choice: str) -> str:
    if choice not in _CHOICES:
        if not os.access(choice, os.X_OK):
            raise EncoderError(f"LISTEN_FFMPEG={choice} is not an executable file")
        return choice
    if choice in ("auto", "system"):
        found = shutil.which("ffmpeg")
        if found:
            return found
        if choice == "system":
            raise EncoderError("LISTEN_FFMPEG=system but no ffmpeg is on PATH")
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise EncoderError(
            "ffmpeg is not installed and the imageio-ffmpeg fallback is missing: "
            "install ffmpeg or `pip install imageio-ffmpeg`"
        ) from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def find_ffmpeg(env: Mapping[str, str] | None = None) -> str:
    """Path of the ffmpeg binary to use (system first, then imageio-ffmpeg's)."""
    return _find_ffmpeg(_choice(os.environ if env is None else env, "LISTEN_FFMPEG"))


def ffmpeg_source(path: str) -> str:
    """``bundled`` when ``path`` is imageio-ffmpeg's binary, else ``system``."""
    return "bundled" if "imageio_ffmpeg" in path else "system"
