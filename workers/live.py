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
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

STREAMABLE = frozenset({"mp3", "ogg"})

_ID3_HEADER = 10
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
