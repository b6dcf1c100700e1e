"""Progressive output: the live file a job's encoder grows, and where its playable part starts.

While a job is rendered, the encoder's temp file is also reachable under a
fixed name beside the entry, ``<key>.live.<fmt>`` (``AudioCache.live_path``).
It is a hard link, so both names are one file: nothing is copied, and the
finished entry is the very file readers were following. The encoder runs
ffmpeg with ``-flush_packets 1`` so each packet reaches the file at once.

A reader (the web side, on this machine or another one sharing the data
directory) opens the live name and serves what ffmpeg will never rewrite:

- **MP3**: ffmpeg writes an ID3v2 tag (whose ``TLEN`` is patched at the end)
  and a Xing/Info frame (whose counts and seek table its trailer rewrites),
  then plain MP3 frames, only ever appended. A reader skips the tag and the
  Xing frame; the frames alone are a valid MP3 stream, as internet radio is.
- **Ogg/Opus**: ffmpeg's Ogg muxer never seeks back, so the file is a valid
  stream from its first byte.
- **WAV** is not streamed: its header sizes are rewritten at the end, and a
  client that cannot wait is better served by a compressed format.

The attempt that publishes a live name withdraws it when it ends, finished or
failed; a reader that finds the name gone or naming another file knows its
attempt is over and that its file will not grow again. A name left by a
crashed worker is replaced by the next attempt or removed by the cache's
prune of crash debris.

The sentence timings made so far live the same life beside it, in
``<key>.live.timings.jsonl`` (``TimingsLog``): one JSON object a line, each
written whole by one ``write`` as its sentence is added, so a reader on any
machine sharing the directory parses the complete lines and keeps the rest
for later. ``FirstAudio`` watches the file for the first audio bytes past
its header, the moment a listener could hear something.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

log = logging.getLogger(__name__)

STREAMABLE = frozenset({"mp3", "ogg"})
# How long the end of a job waits for its first-audio watcher to stop.
JOIN_TIMEOUT_S = 5.0

_ID3_HEADER = 10
_HEAD_BYTES = 64 * 1024  # holds ffmpeg's ID3 tag (titles are at most 300 characters) and Xing frame
# Layer III bitrates in kbit/s by index, for MPEG-1 and for MPEG-2/2.5.
_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by the header's version bits (3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5).
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def publish(tmp: Path, live: Path) -> int | None:
    """Make ``live`` another name of ``tmp``, replacing any old one atomically; return its inode.

    None, logged, where the file system cannot do it (no hard links): the job
    is then made as before, only not streamed while it is made.
    """
    side = tmp.with_name(tmp.name + ".live")  # a .tmp-* name: crash debris is pruned
    try:
        os.link(tmp, side)
        try:
            os.replace(side, live)
        finally:
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
        return os.stat(live).st_ino
    except OSError as exc:
        log.warning("cannot publish %s while it is made (%s); it will not stream", live, exc)
        return None


def withdraw(live: Path, inode: int) -> None:
    """Remove ``live`` if it is still the file with ``inode`` (a newer attempt's stays)."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(live).st_ino == inode:
            live.unlink()


class TimingsLog:
    """The live timings of one attempt: ``live`` names the file from ``__enter__`` until exit.

    ``tmp`` is an empty ``.tmp-*`` file in the same directory; it is opened
    and then renamed over ``live`` (replacing an older attempt's at once).
    Call the log with each sentence's timing. Exit withdraws the name unless
    a newer attempt has replaced it: exit after the entry is stored. Where
    the file cannot be published or written, the job goes on without it.
    """

    def __init__(self, tmp: Path, live: Path) -> None:
        self.tmp = tmp
        self.live = live
        self._fd: int | None = None
        self._inode = 0
        self._stopped = False

    def __enter__(self) -> Self:
        fd = None
        try:
            fd = os.open(self.tmp, os.O_WRONLY | os.O_APPEND)
            self._inode = os.fstat(fd).st_ino
            os.replace(self.tmp, self.live)
        except OSError as exc:
            log.warning("cannot publish %s (%s); timings will not stream", self.live, exc)
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
            return self
        self._fd = fd
        return self

    def __call__(self, timing: Mapping[str, Any]) -> None:
        if self._fd is None or self._stopped:
            return
        line = (json.dumps(dict(timing), separators=(",", ":")) + "\n").encode()
        try:
            written = os.write(self._fd, line)
        except OSError as exc:  # the audio write will say so if the disk is full
            written = 0
            log.warning("cannot append to %s (%s); timings stop streaming", self.live, exc)
        # After a short write, readers would join the next line to this one's start.
        self._stopped = written != len(line)

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            withdraw(self.live, self._inode)
            os.close(self._fd)
            self._fd = None


class FirstAudio:
    """Call ``report`` once, as soon as ``path`` holds ``fmt`` audio past its header.

    For a streamed format a thread polls the file every ``every`` seconds from
    ``__enter__`` until it sees a byte of audio, or until exit. ``done`` says
    the file is complete: it reports then if nothing was seen before (a format
    that is not streamed has no audio before its end). ``report`` runs at most
    once; an exception from it is logged, never raised: it is a measurement,
    the job does not depend on it.
    """

    def __init__(
        self, path: Path, fmt: str, report: Callable[[], None], *, every: float = 0.01
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.every = every
        self._report = report
        self._lock = threading.Lock()
        self._reported = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.fmt in STREAMABLE:
            self._thread = threading.Thread(target=self._watch, name="first-audio", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            # Bounded, as the lease's heartbeat is: a report stuck on a store
            # that stopped answering must not hold the finished job.
            self._thread.join(JOIN_TIMEOUT_S)

    def done(self) -> None:
        """The file is complete: its first audio is there now, if not reported before."""
        self._fire()

    def _watch(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            log.warning("cannot watch %s for its first audio: %s", self.path, exc)
            return
        try:
            seen = 0
            while not self._stop.wait(self.every):
                size = os.fstat(fd).st_size
                if size == seen:
                    continue
                seen = size
                start = playable_start(os.pread(fd, _HEAD_BYTES, 0), self.fmt)
                if start is not None and size > start:
                    self._fire()
                    return
        except (OSError, ValueError) as exc:  # done() reports it at the end instead
            log.warning("cannot watch %s for its first audio: %s", self.path, exc)
        finally:
            os.close(fd)

    def _fire(self) -> None:
        with self._lock:
            if self._reported:
                return
            self._reported = True
        try:
            self._report()
        except Exception:
            log.warning("could not report the first audio of %s", self.path, exc_info=True)


def playable_start(head: bytes, fmt: str) -> int | None:
    """Offset of the first byte of ``fmt`` audio that is never rewritten, given the file's start.

    None while ``head`` is too short to tell (ffmpeg has not written its
    header yet). Raises ``ValueError`` for a format that is not streamed or a
    head that is not what ffmpeg writes.
    """
    if fmt == "ogg":
        return 0
    if fmt != "mp3":
        raise ValueError(f"{fmt!r} audio is not streamed")
    offset = 0
    if head[:3] == b"ID3":
        if len(head) < _ID3_HEADER:
            return None
        size = _syncsafe(head[6:10])
        footer = _ID3_HEADER if head[5] & 0x10 else 0
        offset = _ID3_HEADER + size + footer
    length = _frame_length(head[offset : offset + 4])
    if length is None:
        return None
    frame = head[offset : offset + length]
    if len(frame) < length:
        return None
    # ffmpeg's Xing/Info frame is a silent frame holding the tags; it is the
    # part its trailer rewrites, so the stream starts after it.
    return offset + length if b"Xing" in frame or b"Info" in frame else offset


def _syncsafe(raw: bytes) -> int:
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
    return value


def _frame_length(header: bytes) -> int | None:
    if len(header) < 4:
        return None
    if header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        raise ValueError("no MP3 frame where one was expected")
    version = (header[1] >> 3) & 3
    layer = (header[1] >> 1) & 3
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    padding = (header[2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        raise ValueError("not an MPEG Layer III frame header")
    bitrate = _BITRATES[1 if version == 3 else 2][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    samples_per_byte = 144 if version == 3 else 72  # 1152 or 576 samples a frame, over 8
    return samples_per_byte * bitrate // sample_rate + padding
