"""The Piper engine (neural voices, ONNX runtime): the only module that imports piper.

Installed by the optional extra ``pip install 'listen[neural]'``; without it
``available()`` says why and no Piper voice is offered. How it meets the
guarantees of the espeak-ng path:

* One model load per voice per process, on first use, in the process that
  uses it (Celery's pool processes, after the fork): an ONNX session made
  before a fork is not safe to use in the children, and loading in the
  parent would copy 300 MB per child anyway.
* Threads: each session gets ``threads()`` intra-op threads, the machine's
  cores divided by the worker's concurrency (``configure(concurrency)``, from
  the worker's start-up), so that N pool processes do not each spin up a
  thread per core and fight over them.
* Bounded work and memory: callers hand it bounded chunks
  (``workers.text.split``), as they do espeak-ng; Piper renders a chunk
  sentence by sentence, and the session keeps no memory arena, so a
  process's peak does not grow with the articles it reads.
* Output: 22,050 Hz mono s16le PCM, as ``workers.engine`` gives, so that
  ``workers.audio`` assembles and levels both engines' audio alike.
* A model that cannot be loaded (missing, truncated, not ONNX) raises
  ``VoiceUnusable``, which fails the job at once: retrying cannot mend a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.engine import WordMark
from workers.errors import EngineError, VoiceUnusable
from workers.phoneme_words import word_marks
from workers.voicefiles import SAMPLE_RATE, VoiceFiles
from workers.words import tokens

if TYPE_CHECKING:
    from workers.engine import SpeechSettings

log = logging.getLogger(__name__)

# Listen's rate is in words per minute around espeak-ng's 175; Piper's
# length_scale stretches every phoneme, so 175 / rate keeps the two in step.
RATE_BASE = 175
# Making a voice's aligned copy (once per model): parsing and writing 60-100 MB.
PATCH_TIMEOUT_S = 300
PATCHER = "piper.patch_voice_with_alignment"
M_MMAP_THRESHOLD = -3  # glibc's malloc.h

# glibc's malloc gives a block this large or larger its own mapping, returned
# to the system when freed (``mallopt(M_MMAP_THRESHOLD)``, once per process
# that loads a voice). By default glibc raises that threshold as big blocks
# are freed, and the tensors of each sentence then stay behind in the heap:
# one 3,000-character article peaked at 601-646 MB; with 16 MB, 493-506 MB;
# with 4 MB, 477 MB; 128 KB, 420 MB but 50 % slower (measured, 2 cores).
MMAP_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Setup:
    """How this process's Piper sessions are made (``configure``)."""

    concurrency: int = 0  # the worker's pool size; 0 = not a worker (all cores)
    aligned_dir: Path | None = None  # where aligned models are kept; None = temp dir
    mmap_bytes: int = MMAP_BYTES  # 0 = leave glibc's malloc as it is
    cuda: bool = False  # run on the GPU (onnxruntime-gpu) when it is there


_setup = Setup()
_malloc_set = False


def available() -> str | None:
    """None if Piper can run here, else why not (for the API and the CLI)."""
    # Found, not imported: the web side only lists voices, and onnxruntime
    # costs a web process tens of MB it would never use.
    for module in ("piper", "onnxruntime"):
        try:
            found = importlib.util.find_spec(module)
        except ImportError:
            found = None
        if found is None:
            return f"Piper is not installed ({module} missing): pip install 'listen[neural]'"
    return None


def _bridge() -> None:
    """Import Piper's espeak-ng bridge bound to its own espeak-ng, not the system's.

    The bridge carries a private espeak-ng whose functions it exports; the
    system's libespeak-ng (``workers.system``, loaded RTLD_GLOBAL for pyttsx3)
    would win the lookup of those names, and Piper's phonemizer then calls
    into the other espeak-ng with its own state: a segfault on the first
    sentence (measured). RTLD_DEEPBIND makes the bridge use its own copy, in
    whatever order the two are loaded.
    """
    import sys

    if "piper.espeakbridge" in sys.modules:
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        import piper.espeakbridge  # noqa: F401
    finally:
        sys.setdlopenflags(flags)


def configure(setup: Setup) -> None:
    """How this worker's Piper sessions are made (its main process, before the
    pool forks, from its settings)."""
    global _setup
    _setup = replace(setup, concurrency=max(0, setup.concurrency))


def threads(cores: int | None = None, concurrency: int | None = None) -> int:
    """Intra-op threads per ONNX session: this process's share of the cores, at least 1."""
    cores = cores or len(os.sched_getaffinity(0)) or 1
    concurrency = concurrency if concurrency is not None else _setup.concurrency
    return max(1, cores // max(1, concurrency))


class PiperEngine:
    """Piper voices loaded on first use, in this process only."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._phonemised: dict[tuple[int, str], list[str]] = {}
        self.loads = 0  # models loaded by this process (tests check: one per voice)

    def synthesize_words(
        self, text: str, settings: SpeechSettings, files: VoiceFiles
    ) -> tuple[bytes, tuple[WordMark, ...]]:
        """One bounded chunk in ``files``' voice (22,050 Hz mono s16le PCM) and when
        each of its words begins (none if the voice's model gives no alignments)."""
        from piper import SynthesisConfig

        if os.getpid() != self.pid:
            raise EngineError(
                f"this Piper engine was created in process {self.pid} before a fork; "
                "create engines lazily in the process that uses them"
            )
        voice = self._voice(files)
        config = SynthesisConfig(
            length_scale=RATE_BASE / settings.rate,
            volume=settings.volume,
            normalize_audio=True,
        )
        try:
            # One chunk per sentence Piper finds; joined as it would join them.
            chunks = list(voice.synthesize(text, config, include_alignments=True))
            pcm = b"".join(c.audio_int16_bytes for c in chunks)
            return pcm, self._marks(voice, text, chunks)
        except Exception as exc:  # onnxruntime raises its own, untyped, errors
            raise EngineError(f"Piper failed on voice {files.id}: {exc}") from exc

    def _marks(self, voice: Any, text: str, chunks: list[Any]) -> tuple[WordMark, ...]:
        said: list[tuple[str, int]] = []
        at = 0
        for chunk in chunks:
            if not chunk.phoneme_alignments:  # a model without the alignment output
                return ()
            first = at
            for aligned in chunk.phoneme_alignments:
                said.append((aligned.phoneme, first))
                first += int(aligned.num_samples)
            at += len(chunk.audio_int16_bytes) // 2
        spans = tokens(text)
        alone = [
            # A lexicon's [[IPA]] is said as written: its phonemes are the text.
            list(text[start:end])
            if text.startswith("[[", start - 2)
            else self._alone(voice, text[start:end])
            for start, end in spans
        ]
        return tuple(word_marks(spans, alone, said, SAMPLE_RATE))

    def _alone(self, voice: Any, word: str) -> list[str]:
        """``word``'s phonemes said alone (cached: articles repeat their words)."""
        key = (id(voice), word)
        found = self._phonemised.get(key)
        if found is None:
            found = [p for sentence in voice.phonemize(word) for p in sentence]
            if len(self._phonemised) >= 20_000:
                self._phonemised.clear()
            self._phonemised[key] = found
        return found

    def _voice(self, files: VoiceFiles) -> Any:
        with self._lock:
            voice = self._loaded.get(files.id)
            if voice is None:
                voice = self._loaded[files.id] = load(files)
                self.loads += 1
            return voice


def load(files: VoiceFiles, n_threads: int | None = None) -> Any:
    """A ``PiperVoice`` for ``files`` with a session of ``n_threads`` (default ``threads()``).

    The session is made here rather than by ``PiperVoice.load``, which takes
    onnxruntime's default of one thread per core.
    """
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    _bridge()
    n_threads = n_threads or threads()
    try:
        config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VoiceUnusable(f"voice {files.id}: unreadable config {files.config}: {exc}") from exc
    if config.sample_rate != SAMPLE_RATE:
        raise VoiceUnusable(f"voice {files.id}: {config.sample_rate} Hz, not {SAMPLE_RATE} Hz")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    # Memory bounded: with onnxruntime's arena and memory patterns, a worker's
    # peak grew with each article (620 MB after one, 870 MB after four, then
    # level); without them it stays near 550 MB (docs/operations.md).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    # Threads that finish a parallel step sleep rather than spin: the cores are
    # shared with the encoder and the worker's own threads, and a spinning
    # thread takes their turn (measured: 0.96x the wall time, 0.89x the CPU).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    _release_big_blocks()
    model = aligned(files) or files.model
    try:
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=providers(onnxruntime)
        )
    except Exception as exc:  # onnxruntime's Fail, InvalidProtobuf, NoSuchFile…
        raise VoiceUnusable(
            f"voice {files.id}: cannot load its model {files.model}: {exc}"
        ) from exc
    log.info(
        "loaded Piper voice %s with %d thread(s) on %s%s",
        files.id,
        n_threads,
        session.get_providers()[0],
        "" if len(session.get_outputs()) > 1 else ", without word timings (no alignments)",
    )
    return PiperVoice(session=session, config=config)


def providers(onnxruntime: Any) -> list[str]:
    """The GPU first when asked for and there (onnxruntime-gpu), else the CPU."""
    if _setup.cuda:
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning(
            "LISTEN_PIPER_CUDA is on but onnxruntime has no CUDA here "
            "(install onnxruntime-gpu in place of onnxruntime): running on the CPU"
        )
    return ["CPUExecutionProvider"]


def _release_big_blocks() -> None:
    """Set glibc's mmap threshold once in this process (``MMAP_BYTES``)."""
    global _malloc_set
    if _malloc_set or not _setup.mmap_bytes:
        return
    _malloc_set = True
    try:
        libc = ctypes.CDLL(None)
        done = libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(_setup.mmap_bytes))
    except (OSError, AttributeError):  # not glibc (musl, macOS): its malloc as it is
        return
    if not done:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) refused", _setup.mmap_bytes)


def aligned(files: VoiceFiles) -> Path | None:
    """A copy of ``files``' model that also answers how many samples each phoneme
    took (Piper's alignments, for word timings), made once per model and kept in
    the aligned-models folder; None if it cannot be made (then no word timings).

    Piper's own ``patch_voice_with_alignment`` makes it, in a child process:
    the ``onnx`` package it needs and the model it parses (twice the file's
    size) never enter a worker's memory.
    """
    folder = _setup.aligned_dir or Path(tempfile.gettempdir()) / f"listen-aligned-{os.getuid()}"
    target = folder / f"{files.model.stem}-{files.version().replace('/', '-')}.onnx"
    if target.exists():
        return target
    if importlib.util.find_spec("onnx") is None:
        log.warning("voice %s: no word timings: the onnx package is missing", files.id)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
    os.close(fd)
    try:
        done = subprocess.run(
            [sys.executable, "-m", PATCHER, str(files.model), "--output", part],
            capture_output=True,
            text=True,
            timeout=PATCH_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0 or os.path.getsize(part) == 0:
            # A model already aligned by hand is refused too, and is used as it is.
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            log.warning("voice %s: no aligned copy made: %s", files.id, why)
            return None
        os.chmod(part, 0o644)
        os.replace(part, target)  # whole or not at all: workers may race here
        return target
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("voice %s: no aligned copy made: %s", files.id, exc)
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
