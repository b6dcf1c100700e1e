"""Assemble utterances into one programme (pydub) and encode it (ffmpeg).

The only module that touches pydub or runs ffmpeg. Audio is streamed: each
utterance is trimmed, levelled and written to an ffmpeg process's stdin as it
arrives, so memory stays flat however long the article is, and ffmpeg encodes
on the second core while the engine renders the next sentence.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydub import AudioSegment
from pydub.silence import detect_leading_silence

from workers.engine import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH
from workers.errors import EncoderError, InvalidSetting, OutOfSpace, SynthesisError
from workers.system import find_ffmpeg
from workers.voices import PIPER

# Opus only runs at a few fixed rates; 24 kHz keeps all of espeak's 11 kHz band.
_CODECS: dict[str, list[str]] = {
    # LAME's fast mode (-q 7): half the CPU of ffmpeg's default, which made
    # encoding the slowest stage of the pipeline (1.5 s vs 0.75 s of CPU for
    # 193 s of speech here), at a quality loss that 64 kbit/s mono speech hides.
    "mp3": [
        "-c:a",
        "libmp3lame",
        "-compression_level",
        "7",
        "-f",
        "mp3",
        "-id3v2_version",
        "4",
        "-write_xing",
        "1",
    ],
    "ogg": ["-c:a", "libopus", "-ar", "24000", "-application", "voip", "-f", "ogg"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}
MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
OPUS_BITRATES = range(12, 257)
DEFAULT_BITRATE = 64
CONTENT_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav"}

# The ID3 length (TLEN) is only known once everything is encoded; ffmpeg
# writes this fixed-width placeholder first and we patch it in place, which
# avoids re-muxing a long file.
_TLEN_PLACEHOLDER = b"0000000000"
_ID3_SCAN_BYTES = 64 * 1024
# Utterances waiting for ffmpeg: enough to keep it busy, few enough that
# memory stays at a few sentences' worth of PCM.
_QUEUED_WRITES = 8


@dataclass(frozen=True, slots=True)
class EncodeSettings:
    fmt: str = "mp3"
    bitrate_kbps: int = DEFAULT_BITRATE
    title: str | None = None
    artist: str | None = None

    def validate(self) -> None:
        if self.fmt not in _CODECS:
            raise InvalidSetting(f"format must be one of {', '.join(_CODECS)}, got {self.fmt!r}")
        if self.fmt == "mp3" and self.bitrate_kbps not in MP3_BITRATES:
            raise InvalidSetting(
                f"mp3 bitrate must be one of {', '.join(map(str, MP3_BITRATES))} kbit/s, "
                f"got {self.bitrate_kbps}"
            )
        if self.fmt == "ogg" and self.bitrate_kbps not in OPUS_BITRATES:
            raise InvalidSetting(f"ogg/opus bitrate must be 12-256 kbit/s, got {self.bitrate_kbps}")

    @property
    def effective_bitrate(self) -> int:
        """WAV is uncompressed, so its bitrate does not change the output."""
        return 0 if self.fmt == "wav" else self.bitrate_kbps


def _says_disk_full(ffmpeg_stderr: str) -> bool:
    # ffmpeg reports a full disk only in words (strerror, in the C locale).
    return any(os.strerror(n) in ffmpeg_stderr for n in (errno.ENOSPC, errno.EDQUOT))


class Encoder:
    """An ffmpeg process fed raw PCM on stdin and writing one file.

    ``write`` hands the PCM to a feeder thread through a short queue, so the
    caller goes on rendering the next sentence while ffmpeg encodes this one
    (MP3 encoding is the slowest stage; without the overlap the two added up).
    """

    def __init__(
        self,
        out_path: Path,
        settings: EncodeSettings,
        ffmpeg: str | None = None,
        *,
        live: bool = False,
    ) -> None:
        settings.validate()
        self.out_path = out_path
        self.settings = settings
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as ffmpeg
        cmd = [ffmpeg or find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        # The input format is given whole, so nothing needs probing: without
        # these ffmpeg reads about five seconds of audio before it encodes
        # anything, and a job's first sentence would reach its file late.
        cmd += ["-probesize", "32", "-analyzeduration", "0"]
        cmd += ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS), "-i", "pipe:0"]
        cmd += _CODECS[settings.fmt]
        if live:
            # Each packet reaches the file as soon as it is encoded (not in
            # 32 KB blocks, four seconds of 64 kbit/s audio), so readers of a
            # job in progress hear the first sentence at once. The bytes
            # written are the same either way.
            cmd += ["-flush_packets", "1"]
        if settings.fmt != "wav":
            cmd += ["-b:a", f"{settings.bitrate_kbps}k"]
        for key, value in (("title", settings.title), ("artist", settings.artist)):
            if value:
                cmd += ["-metadata", f"{key}={value}"]
        if settings.fmt == "mp3":
            cmd += ["-metadata", f"TLEN={_TLEN_PLACEHOLDER.decode()}"]
        cmd += ["-y", str(out_path)]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._stderr)
        except OSError as exc:
            self._stderr.close()
            raise EncoderError(f"cannot start ffmpeg ({cmd[0]}): {exc}") from exc
        self._pending: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_WRITES)
        self._feed_error: BaseException | None = None
        self._feeder = threading.Thread(target=self._feed, name="listen-encoder", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while (data := self._pending.get()) is not None:
            if self._feed_error is None:
                try:
                    stdin.write(data)
                except (OSError, ValueError) as exc:  # ffmpeg died: keep draining
                    self._feed_error = exc
        with contextlib.suppress(OSError, ValueError):
            stdin.close()

    def _detail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()[-2000:]

    def _error(self, what: str) -> SynthesisError:
        detail = self._detail()
        kind = OutOfSpace if _says_disk_full(detail) else EncoderError
        return kind(f"ffmpeg {what}: {detail or 'no message'}")

    def write(self, pcm: bytes) -> None:
        if self._feed_error is not None:
            self._proc.wait()
            raise self._error(f"stopped early (exit {self._proc.returncode})")
        self._pending.put(pcm)

    def _close_feed(self, timeout: float) -> None:
        self._pending.put(None)
        self._feeder.join(timeout)

    def finish(self, duration_ms: int, timeout: float = 600.0) -> None:
        """Flush, wait for ffmpeg and write the final length into the tags."""
        try:
            self._close_feed(timeout)
            try:
                code = self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                raise EncoderError(f"ffmpeg did not finish within {timeout:.0f} s") from None
            # A write that fails as ffmpeg closes its output can still exit 0.
            if code != 0 or self._feed_error is not None or _says_disk_full(self._detail()):
                raise self._error(f"failed with exit {code}")
            if self.settings.fmt == "mp3":
                _patch_tlen(self.out_path, duration_ms)
        finally:
            self._stderr.close()

    def abort(self) -> None:
        # Kill first: the feeder's blocked write then fails and it drains.
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_feed(10.0)
        self._stderr.close()

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is not None:
            self.abort()


def _patch_tlen(path: Path, duration_ms: int) -> None:
    value = f"{duration_ms:010d}".encode()
    with path.open("r+b") as f:
        head = f.read(_ID3_SCAN_BYTES)
        at = head.find(b"TLEN")
        # frame: id(4) size(4) flags(2) encoding(1) text
        text_at = at + 11
        if at < 0 or head[text_at : text_at + len(value)] != _TLEN_PLACEHOLDER:
            raise EncoderError("ffmpeg wrote no ID3 TLEN placeholder")
        f.seek(text_at)
        f.write(value)


@dataclass(frozen=True, slots=True)
class Pauses:
    """Silences inserted between utterances, in ms at ``RATE_DEFAULT``.

    Calibrated against espeak-ng's own rendering of whole articles so that a
    programme lasts as long as ``espeak-ng -w`` would make it; scaled with the
    speaking rate like espeak-ng's own pauses (steeper than 1/rate).
    """

    clause_ms: int = 120
    sentence_ms: int = 350
    paragraph_ms: int = 600

    @classmethod
    def of(cls, engine: str) -> Pauses:
        """The pauses of ``engine``'s programmes (espeak-ng's unless said otherwise)."""
        return PIPER_PAUSES if engine == PIPER else cls()

    def scaled(self, rate: int) -> Pauses:
        factor = (175 / rate) ** 1.8
        return Pauses(
            *(round(ms * factor) for ms in (self.clause_ms, self.sentence_ms, self.paragraph_ms))
        )


# Piper's utterances are trimmed of the silence its own rendering leaves
# between sentences; these put it back so that a programme lasts about as
# long as Piper's rendering of the same text (tests/integration/test_piper.py).
PIPER_PAUSES = Pauses(clause_ms=120, sentence_ms=250, paragraph_ms=500)


class Assembler:
    """Trim, level and space utterances, streaming them into an ``Encoder``.

    Positions are kept in samples so that timings never drift from the audio.
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        target_dbfs: float = -18.0,
        peak_dbfs: float = -1.0,
        silence_dbfs: float = -50.0,
    ) -> None:
        self._encoder = encoder
        self._target = target_dbfs
        self._peak = peak_dbfs
        self._silence = silence_dbfs
        self.samples = 0
        self._last = (0, 0, 0)  # the last utterance: its start, lead trimmed, end (ms)

    @property
    def position_ms(self) -> int:
        return round(self.samples * 1000 / SAMPLE_RATE)

    def pause(self, ms: int) -> None:
        if self.samples == 0 or ms <= 0:  # no leading silence
            return
        self._emit(AudioSegment.silent(ms, frame_rate=SAMPLE_RATE).raw_data)

    def add(self, pcm: bytes) -> tuple[int, int]:
        """Append one utterance; return its (start_ms, end_ms) in the programme."""
        seg = AudioSegment(
            data=pcm, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=CHANNELS
        )
        lead = detect_leading_silence(seg, self._silence, 5)
        tail = detect_leading_silence(seg.reverse(), self._silence, 5)
        seg = seg[lead : max(lead, len(seg) - tail)]
        start = self.position_ms
        if len(seg) > 0 and seg.rms > 0:
            # Level each utterance towards one loudness, never past the peak
            # ceiling; streaming rules out a whole-programme two-pass loudnorm.
            gain = min(self._target - seg.dBFS, self._peak - seg.max_dBFS)
            self._emit(seg.apply_gain(gain).raw_data)
        self._last = (start, lead, self.position_ms)
        return start, self.position_ms

    def placed(self, at_ms: int) -> int:
        """Where ``at_ms`` of the last utterance as rendered (before its silence
        was trimmed) is in the programme, within what was kept of it."""
        start, lead, end = self._last
        return min(max(start + at_ms - lead, start), end)

    def _emit(self, raw: bytes) -> None:
        self._encoder.write(raw)
        self.samples += len(raw) // SAMPLE_WIDTH
