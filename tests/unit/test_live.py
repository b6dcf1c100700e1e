"""Where a reader of a live file may start: ``workers.live.playable_start`` on hand-made heads."""

from __future__ import annotations

import pytest

from workers.live import playable_start

# MPEG-2 Layer III, 64 kbit/s, 22,050 Hz, no padding: 72 * 64000 / 22050 = 208 bytes.
MPEG2_64K = bytes([0xFF, 0xF3, 0x80, 0x00])
# MPEG-1 Layer III, 128 kbit/s, 44,100 Hz, padded: 144 * 128000 / 44100 + 1 = 418 bytes.
MPEG1_128K_PADDED = bytes([0xFF, 0xFB, 0x92, 0x00])


def id3(body_size: int, footer: bool = False) -> bytes:
    size = bytes((body_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    flags = 0x10 if footer else 0x00
    tail = bytes(10) if footer else b""
    return b"ID3\x04\x00" + bytes([flags]) + size + bytes(body_size) + tail


def frame(header: bytes, length: int, tag: bytes = b"") -> bytes:
    body = header + bytes(32) + tag
    return body + bytes(length - len(body))


def test_skips_the_id3_tag_and_the_xing_frame() -> None:
    head = id3(300) + frame(MPEG2_64K, 208, b"Xing") + frame(MPEG2_64K, 208)
    assert playable_start(head, "mp3") == 310 + 208


def test_an_info_frame_is_skipped_too_and_a_footer_counted() -> None:
    head = id3(100, footer=True) + frame(MPEG1_128K_PADDED, 418, b"Info") + MPEG1_128K_PADDED
    assert playable_start(head, "mp3") == 120 + 418


def test_an_ordinary_first_frame_is_where_the_stream_starts() -> None:
    assert playable_start(id3(50) + frame(MPEG2_64K, 208), "mp3") == 60
    assert playable_start(frame(MPEG2_64K, 208), "mp3") == 0


@pytest.mark.parametrize("cut", [0, 2, 9, 310, 312, 310 + 207])
def test_too_little_of_the_head_is_not_yet_an_answer(cut: int) -> None:
    head = id3(300) + frame(MPEG2_64K, 208, b"Xing")
    assert playable_start(head[:cut], "mp3") is None


def test_ogg_streams_from_its_first_byte() -> None:
    assert playable_start(b"", "ogg") == 0


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"RIFF....WAVEfmt ", "wav"),
        (id3(10) + b"\x00\x01\x02\x03", "mp3"),  # no frame sync after the tag
        (bytes([0xFF, 0xF5, 0x80, 0x00]), "mp3"),  # layer II
        (bytes([0xFF, 0xF3, 0xF4, 0x00]), "mp3"),  # bitrate index 15
    ],
)
def test_what_ffmpeg_does_not_write_is_an_error(head: bytes, fmt: str) -> None:
    with pytest.raises(ValueError):
        playable_start(head, fmt)
