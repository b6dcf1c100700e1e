"""The live file a job grows while it encodes, with the real engine, ffmpeg and cache."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from audio_cache import AudioCache
from tests.conftest import ffprobe, no_temp_files, require
from tests.integration.test_audio import tone
from workers.audio import Encoder, EncodeSettings
from workers.engine import Engine, SpeechSettings, WordMark
from workers.live import playable_start, publish, withdraw
from workers.pipeline import Request, plan, synthesize
from workers.voices import Voice


@pytest.mark.parametrize(("fmt", "bitrate"), [("mp3", 64), ("mp3", 128), ("ogg", 32)])
def test_bytes_after_the_playable_start_are_never_rewritten(
    tmp_path: Path, fmt: str, bitrate: int
) -> None:
    out = tmp_path / f"x.{fmt}"
    with Encoder(out, EncodeSettings(fmt, bitrate, "Title", "Artist"), live=True) as enc:
        enc.write(tone(3000))
        early = b""
        deadline = time.monotonic() + 30
        while playable_start(early, fmt) is None or len(early) <= playable_start(early, fmt):
            assert time.monotonic() < deadline, "ffmpeg wrote nothing while still encoding"
            time.sleep(0.01)
            early = out.read_bytes() if out.exists() else b""
        enc.write(tone(3000))
        enc.finish(6000)
    final = out.read_bytes()
    start = playable_start(final, fmt)
    assert start == playable_start(early, fmt)
    # What a reader sent before the end is exactly what the finished file holds there.
    assert final[start : len(early)] == early[start:]
    stream = tmp_path / f"stream.{fmt}"
    stream.write_bytes(final[start:])
    facts = ffprobe(stream)
    assert facts["streams"][0]["codec_name"] == ("mp3" if fmt == "mp3" else "opus")


def test_playable_start_skips_the_id3_tag_and_the_xing_frame(tmp_path: Path) -> None:
    out = tmp_path / "x.mp3"
    with Encoder(out, EncodeSettings("mp3", 64, "Title"), live=True) as enc:
        enc.write(tone(2000))
        enc.finish(2000)
    data = out.read_bytes()
    start = playable_start(data, "mp3")
    assert start is not None
    assert b"Xing" in data[:start] or b"Info" in data[:start]
    assert b"Xing" not in data[start : start + 2000] and data[start] == 0xFF
    assert playable_start(data[: start - 1], "mp3") is None  # not enough yet: wait


class Replay:
    """The real engine, recorded once per piece and replayed after.

    espeak-ng does not render a text to the same samples twice in one process
    (lengths differ by a few samples between the first and later passes), so
    two renderings can only be compared byte for byte from the same speech.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._said: dict[str, tuple[bytes, tuple[WordMark, ...]]] = {}

    def voices(self) -> list[Voice]:
        return self._engine.voices()

    def synthesize_words(
        self, text: str, speech: SpeechSettings
    ) -> tuple[bytes, tuple[WordMark, ...]]:
        if text not in self._said:
            self._said[text] = self._engine.synthesize_words(text, speech)
        return self._said[text]


def test_a_live_rendering_is_byte_identical_and_leaves_no_live_name(
    engine: Engine, tmp_path: Path, article: str
) -> None:
    speaker = Replay(engine)
    job = plan(Request(text=article, title="Live", artist="Tests"), speaker.voices())
    plain, live = AudioCache(tmp_path / "plain"), AudioCache(tmp_path / "live")
    seen: list[int] = []
    live_path = live.live_path(job.key, "mp3")

    def watch(_: float) -> None:
        seen.append(live_path.stat().st_size if live_path.exists() else -1)

    a, _ = synthesize(job, cache=plain, engine=speaker)  # type: ignore[arg-type]
    b, _ = synthesize(job, cache=live, engine=speaker, live=True, progress=watch)  # type: ignore[arg-type]
    assert a.audio_path.read_bytes() == b.audio_path.read_bytes()
    assert a.content_hash == b.content_hash and a.duration_s == b.duration_s
    assert min(seen) >= 0, "the live name was not there while the job ran"
    assert seen[-1] > seen[0], "the live file did not grow"
    assert not live_path.exists()
    assert not plain.live_path(job.key, "mp3").exists()
    assert no_temp_files(tmp_path) == []


def test_a_failed_rendering_withdraws_its_live_name(
    engine, tmp_path: Path, article: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "ffmpeg"
    # Real ffmpeg, killed after a moment: the encoder dies mid-article.
    broken.write_text(f'#!/bin/sh\nexec timeout -s KILL 0.5 {require("ffmpeg")} "$@"\n')
    broken.chmod(0o755)
    monkeypatch.setenv("LISTEN_FFMPEG", str(broken))
    cache = AudioCache(tmp_path / "c")
    job = plan(Request(text=(article + "\n\n") * 4), engine.voices())
    with pytest.raises(Exception, match="ffmpeg"):
        synthesize(job, cache=cache, engine=engine, live=True)
    assert cache.get(job.key) is None
    assert not cache.live_path(job.key, "mp3").exists()
    assert not cache.live_timings_path(job.key).exists()
    assert no_temp_files(tmp_path / "c") == []


def test_a_crashed_writers_live_name_is_replaced_by_the_next_attempt(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    key = "ab" * 32
    tmp = cache.temp_path(key, ".mp3")
    live = cache.live_path(key, "mp3")
    live.write_bytes(b"left by a crashed worker")
    inode = publish(tmp, live)
    assert live.stat().st_ino == tmp.stat().st_ino == inode
    assert live.read_bytes() == b""
    withdraw(live, inode + 1)  # not ours: left alone
    assert live.exists()
    withdraw(live, inode)
    assert not live.exists() and tmp.exists()


def test_a_crashed_writers_live_name_is_pruned_after_an_hour(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    key = "ab" * 32
    live, fresh = cache.live_path(key, "mp3"), cache.live_path("cd" * 32, "ogg")
    for path in (live, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
    live.write_bytes(b"left by a crashed worker")
    fresh.write_bytes(b"being written")
    old = time.time() - 7200
    os.utime(live, (old, old))
    cache.evict()
    assert not live.exists()
    assert fresh.exists()


def test_ffmpeg_prefix_of_a_live_file_decodes(tmp_path: Path) -> None:
    """A reader that stops anywhere still holds playable audio (what a cut stream gives)."""
    ffmpeg = require("ffmpeg")
    out = tmp_path / "x.mp3"
    with Encoder(out, EncodeSettings("mp3"), live=True) as enc:
        for _ in range(4):
            enc.write(tone(1000))
        enc.finish(4000)
    data = out.read_bytes()
    start = playable_start(data, "mp3")
    assert start is not None
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[start : start + (len(data) - start) // 2 + 37])  # mid-frame
    result = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(cut), "-f", "null", "-"], capture_output=True
    )
    assert result.returncode == 0, result.stderr
    assert float(ffprobe(cut)["format"]["duration"]) == pytest.approx(2.0, abs=0.3)


def test_without_hard_links_the_job_is_made_as_before_but_not_streamed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network file systems (SMB) cannot link: streaming is lost, never the job."""

    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("workers.live.os.link", no_links)
    cache = AudioCache(tmp_path)
    job = plan(Request(text="A file system without hard links."), engine.voices())
    entry, cached = synthesize(job, cache=cache, engine=engine, live=True)
    assert not cached
    ffprobe(entry.audio_path)
    assert not cache.live_path(job.key, "mp3").exists()
    assert no_temp_files(tmp_path) == []
