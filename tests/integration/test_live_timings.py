"""Sentence timings published as they are made, and the moment of the first audio,
with the real engine, ffmpeg and cache."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from audio_cache import AudioCache, Entry
from listen_service.livetimings import Follower
from tests.conftest import no_temp_files
from workers.engine import Engine
from workers.jobs import FileJobStore
from workers.live import TimingsLog, playable_start
from workers.pipeline import Plan, Request, plan, synthesize
from workers.runner import run_job


def _made_live(job: Plan, cache: AudioCache, engine: Engine, **kw: Any) -> tuple[Entry, bool]:
    """``job`` made as a worker makes it: published while it is made."""
    return synthesize(job, cache=cache, engine=engine, live=True, **kw)


def test_the_timings_file_grows_with_each_sentence_and_equals_the_entrys(
    engine: Engine, tmp_path: Path, article: str
) -> None:
    cache = AudioCache(tmp_path)
    job = plan(Request(text=article[:2500]), engine.voices())
    reader = Follower(cache.live_timings_path(job.key))
    seen: list[list[dict[str, object]]] = []

    def watch(_: float) -> None:  # called after each sentence
        seen.append(reader.timings())

    entry, cached = _made_live(job, cache, engine, progress=watch)
    assert not cached
    final = entry.meta["timings"]
    assert len(final) > 5
    # Each sentence was readable before the next was made, and only then.
    assert [len(t) for t in seen] == list(range(1, len(final) + 1))
    assert seen[-1] == final
    assert all(t == final[: len(t)] for t in seen)
    assert not cache.live_timings_path(job.key).exists()
    assert no_temp_files(tmp_path) == []


def test_wav_is_made_without_a_timings_file(engine: Engine, tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    job = plan(Request(text="One sentence. And another.", fmt="wav"), engine.voices())
    path = cache.live_timings_path(job.key)
    made: list[bool] = []
    _made_live(job, cache, engine, progress=lambda _: made.append(path.exists()))
    assert made and not any(made)


def test_a_new_attempt_replaces_a_crashed_ones_timings(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    key = "ab" * 32
    live = cache.live_timings_path(key)
    live.parent.mkdir(parents=True)
    live.write_text('{"index":0,"end_ms":900}\n{"index":1,"end_ms":1800}\n')
    reader = Follower(live)
    assert [t["index"] for t in reader.timings()] == [0, 1]
    with TimingsLog(cache.temp_path(key, ".jsonl"), live) as log:
        assert reader.timings() == []  # another file: the new attempt's, from its start
        log({"index": 0, "end_ms": 950})
        assert reader.timings() == [{"index": 0, "end_ms": 950}]
    assert not live.exists()
    assert reader.timings() == [{"index": 0, "end_ms": 950}]  # what was read stays
    assert no_temp_files(tmp_path) == []


def test_an_older_attempt_leaves_a_newer_ones_timings_alone(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    key = "cd" * 32
    live = cache.live_timings_path(key)
    old = TimingsLog(cache.temp_path(key, ".jsonl"), live).__enter__()
    with TimingsLog(cache.temp_path(key, ".jsonl"), live) as new:
        old({"index": 0})  # to its own file, which no name shows any more
        new({"index": 5})
        old.__exit__(None, None, None)  # the old attempt ends late: the new name stays
        assert live.read_text() == '{"index":5}\n'
    assert not live.exists()
    assert no_temp_files(tmp_path) == []


def test_a_crashed_writers_timings_are_pruned_after_an_hour(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    stale, fresh = cache.live_timings_path("ab" * 32), cache.live_timings_path("cd" * 32)
    for path in (stale, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"index":0}\n')
    old = time.time() - 7200
    os.utime(stale, (old, old))
    cache.evict()
    assert not stale.exists()
    assert fresh.exists()


@pytest.mark.parametrize("fmt", ["mp3", "ogg"])
def test_first_audio_is_reported_once_while_the_job_is_still_being_made(
    engine: Engine, tmp_path: Path, article: str, fmt: str
) -> None:
    cache = AudioCache(tmp_path)
    job = plan(Request(text=article[:2500], fmt=fmt), engine.voices())
    sentences: list[int] = []
    reports: list[tuple[int, bool, bool]] = []
    live = cache.live_path(job.key, fmt)

    def first_audio() -> None:
        data = live.read_bytes()
        start = playable_start(data, fmt)
        audio = start is not None and len(data) > start
        reports.append((len(sentences), audio, cache.get(job.key) is not None))

    _made_live(job, cache, engine, progress=sentences.append, first_audio=first_audio)
    assert len(reports) == 1
    made_before, had_audio, was_stored = reports[0]
    assert had_audio, "reported before any audio was in the file"
    assert not was_stored
    assert made_before < len(sentences), "reported only once every sentence was made"


def test_first_audio_of_wav_is_reported_when_the_entry_is_stored(
    engine: Engine, tmp_path: Path
) -> None:
    cache = AudioCache(tmp_path)
    job = plan(Request(text="Not streamed. Finished first.", fmt="wav"), engine.voices())
    stored: list[bool] = []
    _made_live(
        job, cache, engine, first_audio=lambda: stored.append(cache.get(job.key) is not None)
    )
    assert stored == [True]


def test_a_failing_report_does_not_fail_the_job(engine: Engine, tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    job = plan(Request(text="The metric is down. The audio is not."), engine.voices())

    def broken() -> None:
        raise ConnectionError("job store unreachable")

    entry, _ = _made_live(job, cache, engine, first_audio=broken)
    stored = cache.get(job.key)
    assert stored is not None and stored.content_hash == entry.content_hash


def test_the_runner_records_first_audio_from_acceptance(tmp_path: Path, article: str) -> None:
    cache, store = AudioCache(tmp_path), FileJobStore(tmp_path)
    from workers.engine import get_engine

    payload = {"text": article[:1500]}
    job_id = plan(Request(text=article[:1500]), get_engine().voices()).key
    assert store.accept(job_id, payload)
    accepted = store.get(job_id).accepted  # type: ignore[union-attr]
    outcome = run_job(
        job_id,
        payload,
        cache=cache,
        store=store,
        engine=get_engine,
        owner="w1",
        max_chars=100_000,
        lease_ttl=30,
    )
    assert outcome == "synthesised"
    job = store.get(job_id)
    assert job is not None and job.first_audio_s is not None
    entry = cache.get(job_id)
    assert entry is not None
    # Heard before the whole article was stored: sooner than the entry's own time.
    assert 0 < job.first_audio_s < entry.created - accepted
    hist = store.first_audio_histogram()
    assert (hist.count, hist.sum) == (1, job.first_audio_s)
