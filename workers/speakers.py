"""Every speech engine of this process behind one interface: voices, and speech by voice id.

``Speaker`` is what the pipeline, the worker, the web side and the CLI use.
It lists the voices of each engine (espeak-ng always; Piper's when the
``neural`` extra is installed) and sends each utterance to the engine its
voice id names: ``piper:…`` to ``workers.neural``, any other to espeak-ng
(``workers.engine``, whose behaviour is unchanged). Both give 22,050 Hz mono
s16le PCM, so everything downstream is the same for either.

The voices are found once per process and voices folder: a voice installed
later is offered after a restart.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

from workers import neural
from workers.engine import SpeechSettings, WordMark, get_engine
from workers.errors import EngineUnavailable, UnknownVoice
from workers.voicefiles import VoiceFiles, discover
from workers.voices import ESPEAK, PIPER, Voice, engine_of

# What each engine is distributed under (docs/operations.md says more).
ENGINE_LICENCES = {ESPEAK: "GPL-3.0-or-later", PIPER: "GPL-3.0-or-later"}


class SpeechEngine(Protocol):
    """What the pipeline needs of an engine."""

    def synthesize_words(
        self, text: str, settings: SpeechSettings
    ) -> tuple[bytes, tuple[WordMark, ...]]: ...

    def voices(self) -> list[Voice]: ...


class Speaker:
    """espeak-ng and, where installed, Piper, for one process and voices folder."""

    def __init__(self, voices_dir: str = "") -> None:
        self.pid = os.getpid()
        self.voices_dir = voices_dir
        self.piper_missing = neural.available()
        self._piper_files: dict[str, VoiceFiles] = (
            {} if self.piper_missing else {f.id: f for f in discover(voices_dir or None)}
        )
        self._piper_voices = [f.voice() for f in self._piper_files.values()]
        self._piper: neural.PiperEngine | None = None
        self._lock = threading.Lock()

    def voices(self) -> list[Voice]:
        """espeak-ng's voices, then Piper's (language lookups pick espeak-ng's)."""
        return [*get_engine().voices(), *self._piper_voices]

    def synthesize(self, text: str, settings: SpeechSettings) -> bytes:
        return self.synthesize_words(text, settings)[0]

    def synthesize_words(
        self, text: str, settings: SpeechSettings
    ) -> tuple[bytes, tuple[WordMark, ...]]:
        """The utterance and the words the engine marked in it (espeak-ng's word
        events, Piper's phoneme alignments; none from a Piper model without them,
        whose sentences then have no ``words``)."""
        if engine_of(settings.voice_id) != PIPER:
            return get_engine().synthesize_words(text, settings)
        files = self._piper_files.get(settings.voice_id)
        if files is None:
            if self.piper_missing:
                raise EngineUnavailable(f"voice {settings.voice_id}: {self.piper_missing}")
            raise UnknownVoice(f"no Piper voice {settings.voice_id} is installed here")
        return self._piper_engine().synthesize_words(text, settings, files)

    def _piper_engine(self) -> neural.PiperEngine:
        with self._lock:
            if self._piper is None:
                self._piper = neural.PiperEngine()
            return self._piper

    def engines(self) -> list[dict[str, object]]:
        """Each engine, whether it is available here and why not, for the API."""
        return [
            {"name": ESPEAK, "available": True, "licence": ENGINE_LICENCES[ESPEAK]},
            {
                "name": PIPER,
                "available": self.piper_missing is None,
                "licence": ENGINE_LICENCES[PIPER],
                **({"reason": self.piper_missing} if self.piper_missing else {}),
                "voices": len(self._piper_voices),
            },
        ]


_speakers: dict[tuple[int, str], Speaker] = {}
_speakers_lock = threading.Lock()


def get_speaker(voices_dir: str = "") -> Speaker:
    """This process's speaker for ``voices_dir``, made on first use (after any fork)."""
    key = (os.getpid(), voices_dir)
    with _speakers_lock:
        if key not in _speakers:
            _speakers[key] = Speaker(voices_dir)
        return _speakers[key]
