"""The speech engine adapter: the only module that imports pyttsx3.

pyttsx3 2.99 drives espeak-ng on Linux. Its pitfalls, and what this module
does about each:

* ``runAndWait()`` returns before the WAV is written once the text is longer
  than a couple of hundred characters (espeak-ng synthesises on its own
  thread), so we wait for the ``finished-utterance`` notification, with a
  timeout, and then check that a non-empty WAV exists.
* Only the last ``save_to_file`` before one ``runAndWait()`` is produced, so
  every call renders exactly one utterance.
* The driver appends audio with ``bytes +=`` (quadratic), so callers hand us
  bounded chunks (``workers.text.chunk``).
* Its ``Synth`` tells espeak-ng the text is ten times longer than it is, and
  espeak-ng reads that far: a segfault, always on long texts and now and then
  on short ones. ``_bounded_synth`` replaces it with one that gives the true
  size.
* An engine initialised before a fork hangs in the children: the engine is
  created lazily by ``get_engine()`` in the process that uses it, and using a
  parent's engine in a child raises instead of hanging.
* One engine per process, not thread-safe, and ``runAndWait`` can spin for
  ever in some states: every pyttsx3 call runs on one private thread, and the
  caller waits on it with a timeout. An engine that timed out is marked
  broken; the process should be replaced (Celery workers do so).
* It prints "Audio saved to …" on stdout: that print is routed to logging.
* Output is always 22,050 Hz mono 16-bit WAV, whatever the file name says.
* Its ``started-word`` notification gives no time. Word timings come from
  espeak-ng's own word events instead, read in the adapter's synthesis
  callback before the driver's: each gives the word's character offset and
  length in the text and its time in the output (``audio_position``).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import shutil
import tempfile
import threading
import wave
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from workers.errors import EngineError, EngineTimeout
from workers.system import EspeakLibrary, espeak_choice, load_espeak
from workers.voices import PITCH_DEFAULT, RATE_DEFAULT, VOLUME_DEFAULT, Voice

log = logging.getLogger(__name__)

SAMPLE_RATE = 22_050
SAMPLE_WIDTH = 2
CHANNELS = 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WordMark:
    """A word espeak-ng said: ``text[start:end]`` of the rendered text (characters),
    starting ``at_ms`` into the rendered audio, as espeak-ng's word event gives it."""

    start: int
    end: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    voice_id: str
    rate: int = RATE_DEFAULT
    pitch: int = PITCH_DEFAULT
    volume: float = VOLUME_DEFAULT


def utterance_timeout(text: str) -> float:
    """Generous bound for one utterance: espeak-ng renders ~10,000 chars/s here."""
    return 15.0 + len(text) / 100.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _work_dir() -> Path:
    """A private directory for the engine's WAV, in RAM where there is /dev/shm.

    Named after the process: Celery's pool processes end with ``os._exit``,
    so atexit never runs there; each new engine removes the directories of
    processes that are gone.
    """
    base = Path("/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir())
    for old in base.glob("listen-engine-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"listen-engine-{os.getpid()}-", dir=base))
    atexit.register(shutil.rmtree, path, True)
    return path


class Engine:
    """A pyttsx3/espeak-ng engine owned by one thread of this process."""

    def __init__(self, *, espeak: str | None = None, init_timeout: float = 30.0) -> None:
        self.pid = os.getpid()
        self.library: EspeakLibrary = load_espeak(espeak or espeak_choice())
        self._broken: str | None = None
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._finished = threading.Event()
        self._idle = threading.Event()
        self._completed = False
        self._errors: list[BaseException] = []
        self._applied: SpeechSettings | None = None
        self._words: list[WordMark] = []
        self._espeak: Any = None
        self._wav = _work_dir() / "utterance.wav"
        self._thread = threading.Thread(target=self._serve, name="listen-engine", daemon=True)
        self._thread.start()
        self._tts: Any = self._call(self._init_tts, init_timeout)

    # -- the engine thread -------------------------------------------------
    def _serve(self) -> None:
        while True:
            fn, future = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)

    def _init_tts(self) -> Any:
        import pyttsx3
        import pyttsx3.drivers._espeak as espeak_api
        import pyttsx3.drivers.espeak as driver_module

        self._espeak = espeak_api
        # The driver reports each saved file with print(); keep stdout clean
        # for the CLI's --json and for Celery's log.
        driver_module.print = lambda *args, **kw: log.debug(" ".join(map(str, args)))
        tts = pyttsx3.init("espeak")
        tts.connect("finished-utterance", self._on_finished)
        tts.connect("error", self._on_error)
        driver = tts.proxy._driver

        # finished-utterance is sent from espeak-ng's thread while the driver's
        # callback is still running; its tail then marks the proxy idle and
        # ends the loop. Starting the next utterance before that tail has run
        # races it (settings lost, utterances cancelled), so the callback is
        # wrapped to signal when the driver is really done.
        def on_synth(wav: Any, numsamples: int, events: Any) -> int:
            try:
                if driver._speaking:
                    self._note_words(events)
                return int(driver._onSynth(wav, numsamples, events))
            finally:
                if not driver._speaking:
                    self._idle.set()

        espeak_api.SetSynthCallback(on_synth)
        espeak_api.Synth = _bounded_synth(espeak_api)
        return tts

    def _note_words(self, events: Any) -> None:
        """Keep the word events of this callback's list (its end: LIST_TERMINATED)."""
        api = self._espeak
        i = 0
        while (event := events[i]).type != api.EVENT_LIST_TERMINATED:
            if event.type == api.EVENT_WORD and event.length > 0:
                start = event.text_position - 1  # espeak-ng counts from 1
                self._words.append(WordMark(start, start + event.length, event.audio_position))
            i += 1

    def _on_finished(self, name: str | None = None, completed: bool = True) -> None:
        self._completed = bool(completed)
        self._finished.set()

    def _on_error(self, name: str | None = None, exception: BaseException | None = None) -> None:
        self._errors.append(exception or EngineError("unknown engine error"))

    def _call(self, fn: Callable[[], T], timeout: float) -> T:
        if os.getpid() != self.pid:
            raise EngineError(
                f"this engine was created in process {self.pid} before a fork; "
                "create engines lazily in the process that uses them"
            )
        if self._broken:
            raise EngineError(f"engine unusable: {self._broken}")
        future: Future[T] = Future()
        self._calls.put((fn, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            self._broken = f"an engine call did not return within {timeout:.0f} s"
            raise EngineTimeout(self._broken) from None

    def _apply(self, settings: SpeechSettings) -> None:
        if settings == self._applied:
            return
        # Straight to the driver: pyttsx3 would queue these and apply them
        # when runAndWait's loop starts, which races the previous utterance's
        # callback thread and loses changes now and then.
        driver = self._tts.proxy._driver
        try:
            driver.setProperty("voice", settings.voice_id)
            driver.setProperty("rate", settings.rate)
            driver.setProperty("pitch", settings.pitch)
            driver.setProperty("volume", settings.volume)
            # espeak-ng applies parameters through its command queue; without
            # waiting for it, a change often lands an utterance late or not
            # at all (measured: 120 wpm after 300 wpm stayed at 300).
            self._espeak.Synchronize()
        except (ValueError, KeyError) as exc:
            self._applied = None
            raise EngineError(f"the speech engine refused {settings}: {exc}") from exc
        self._applied = settings

    def _render(self, text: str, settings: SpeechSettings, timeout: float) -> bytes:
        self._finished.clear()
        self._idle.clear()
        self._errors.clear()
        self._words = []
        self._wav.unlink(missing_ok=True)
        # The driver's end-of-utterance callback marks the proxy idle from
        # espeak-ng's thread, so the commands below would run the moment they
        # are queued, including runAndWait's endLoop, whose stop() then
        # cancels the new utterance (finished-utterance with completed=False,
        # about one call in four here). Put the proxy back in the state
        # runAndWait expects: busy until its loop starts, no stop pending.
        self._tts.proxy.setBusy(True)
        self._tts.proxy._driver._stopping = False
        self._apply(settings)
        self._tts.save_to_file(text, str(self._wav))
        self._tts.runAndWait()
        if not (self._finished.wait(timeout) and self._idle.wait(timeout)):
            self._tts.stop()
            self._broken = f"no finished-utterance within {timeout:.0f} s"
            raise EngineTimeout(f"the speech engine did not finish within {timeout:.0f} s")
        if self._errors:
            self._applied = None
            raise EngineError(f"speech engine error: {self._errors[0]}")
        if not self._completed:
            raise EngineError("the speech engine stopped before the end of the utterance")
        return self._read_pcm()

    def _read_pcm(self) -> bytes:
        try:
            with wave.open(str(self._wav), "rb") as wav:
                shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
                frames = wav.readframes(wav.getnframes())
        except (OSError, EOFError, wave.Error) as exc:
            raise EngineError(f"the speech engine wrote no readable WAV: {exc}") from exc
        finally:
            self._wav.unlink(missing_ok=True)
        if shape != (CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE):
            raise EngineError(f"unexpected WAV shape {shape} from the speech engine")
        return frames

    # -- the public, thread-safe API ----------------------------------------
    def synthesize(self, text: str, settings: SpeechSettings) -> bytes:
        """Render one bounded chunk; return 22,050 Hz mono s16le PCM.

        May return empty bytes for text espeak-ng has nothing to say for
        (lone symbols); raises ``EngineError``/``EngineTimeout`` on failure.
        """
        return self.synthesize_words(text, settings)[0]

    def synthesize_words(
        self, text: str, settings: SpeechSettings
    ) -> tuple[bytes, tuple[WordMark, ...]]:
        """``synthesize``, with the words espeak-ng said, in order, each within ``text``."""
        timeout = utterance_timeout(text)

        def render() -> tuple[bytes, tuple[WordMark, ...]]:
            pcm = self._render(text, settings, timeout)
            return pcm, _words_within(self._words, len(text))

        # The outer bound also covers a runAndWait that never returns.
        return self._call(render, timeout + 5.0)

    def voices(self) -> list[Voice]:
        """All installed voices, as espeak-ng lists them."""
        return self._call(self._list_voices, 30.0)

    def _list_voices(self) -> list[Voice]:
        found = []
        for v in self._tts.getProperty("voices"):
            gender = v.gender.lower() if isinstance(v.gender, str) else None
            languages = tuple(lang for lang in (v.languages or []) if lang)
            found.append(Voice(id=v.id, name=v.name, languages=languages, gender=gender))
        return found


def _words_within(marks: list[WordMark], length: int) -> tuple[WordMark, ...]:
    """The marks that lie in the text, times never going back (as events arrive)."""
    kept: list[WordMark] = []
    for mark in marks:
        if 0 <= mark.start < mark.end <= length and (not kept or mark.at_ms >= kept[-1].at_ms):
            kept.append(mark)
    return tuple(kept)


def _bounded_synth(espeak_api: Any) -> Callable[..., int]:
    """pyttsx3's ``Synth`` with the text's true size.

    pyttsx3 2.99 tells ``espeak_Synth`` the text is ``len(text) * 10`` bytes
    long, and espeak-ng copies that many bytes from the Python ``bytes``
    object (pyttsx3 issue #448): a read of up to nine times the text past its
    end. It crashes the process (SIGSEGV) whenever the object lies near the
    end of a memory mapping: always for a 20,000-character text, now and then
    for an article's sentences in a freshly forked worker, whose heap is
    small. ``len + 1`` covers the terminating NUL that ``bytes`` objects carry.

    It also lets espeak-ng read ``[[...]]`` as phoneme mnemonics (the
    espeakPHONEMES flag): a site's lexicon gives pronunciations that way.
    Submitted text cannot contain ``[[`` (``workers.text`` collapses it).
    """

    def synth(
        text: str | bytes,
        position: int = 0,
        position_type: int = espeak_api.POS_CHARACTER,
        end_position: int = 0,
        flags: int = 0,
        user_data: Any = None,
    ) -> int:
        data = text.encode("utf-8") if isinstance(text, str) else text
        flags |= espeak_api.PHONEMES  # [[...]]: a lexicon's phonemes (workers.lexicon)
        return int(
            espeak_api.cSynth(
                data, len(data) + 1, position, position_type, end_position, flags, None, user_data
            )
        )

    return synth


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """This process's engine, created on first use (never before a fork)."""
    global _engine
    with _engine_lock:
        if _engine is not None and _engine.pid != os.getpid():
            raise EngineError(
                f"an engine was created in parent process {_engine.pid} and this process "
                "was forked from it; espeak-ng hangs in such children"
            )
        if _engine is None:
            _engine = Engine()
        return _engine
