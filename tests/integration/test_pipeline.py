"""Text → audio file with timings, with the real engine, ffmpeg and cache."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from pydub import AudioSegment
from pydub.silence import detect_leading_silence

from audio_cache import AudioCache
from tests.conftest import ffprobe, no_temp_files, require
from workers.errors import EmptyText, EngineError, InvalidSetting, TextTooLong, UnknownVoice
from workers.pipeline import Request, plan, synthesize
from workers.text import PreparedText


def run(engine, cache: AudioCache, **kw):  # type: ignore[no-untyped-def]
    job = plan(Request(**kw), engine.voices())
    entry, cached = synthesize(job, cache=cache, engine=engine)
    return job, entry, cached


def espeak_seconds(prepared: PreparedText, rate: int, tmp: Path) -> float:
    """Duration of espeak-ng's own rendering of the same prepared text.

    Leading and trailing silence are trimmed, as the pipeline trims them by
    design: what is compared is the span from first to last sound.
    """
    src, out = tmp / "ref.txt", tmp / "ref.wav"
    src.write_text(prepared.text, encoding="utf-8")
    cmd = [require("espeak-ng"), "-v", "gmw/en", "-s", str(rate), "-f", str(src), "-w", str(out)]
    subprocess.run(cmd, check=True, timeout=600)
    with out.open("rb") as f:  # pydub leaves a path it opened unclosed
        audio = AudioSegment.from_wav(f)
    lead = detect_leading_silence(audio, -50.0, 5)
    tail = detect_leading_silence(audio.reverse(), -50.0, 5)
    return (len(audio) - lead - tail) / 1000


def assert_timings_cover(job, entry) -> None:  # type: ignore[no-untyped-def]
    timings = entry.meta["timings"]
    sentences = job.prepared.sentences
    assert len(timings) == len(sentences)
    previous_end = 0
    for t, s in zip(timings, sentences, strict=True):
        assert (t["char_start"], t["char_end"]) == (s.char_start, s.char_end)
        assert previous_end <= t["start_ms"] <= t["end_ms"]
        previous_end = t["end_ms"]
    assert timings[0]["start_ms"] == 0
    assert timings[-1]["end_ms"] == round(entry.duration_s * 1000)


def article_of(chars: int, article: str) -> str:
    """A text of about ``chars`` characters: the article's paragraphs, shuffled, repeated."""
    paragraphs = [p for p in article.split("\n\n") if p.strip()]
    rng = random.Random(chars)
    out: list[str] = []
    while sum(len(p) + 2 for p in out) < chars:
        out.append(rng.choice(paragraphs))
    return "\n\n".join(out)[:chars].rsplit(" ", 1)[0] + "."


@pytest.mark.parametrize(
    "chars",
    [
        0,  # one sentence
        3_000,
        pytest.param(20_000, marks=pytest.mark.slow),
        pytest.param(60_000, marks=pytest.mark.slow),
    ],
)
def test_nothing_dropped_or_reordered(engine, cache, article, tmp_path, chars) -> None:  # type: ignore[no-untyped-def]
    text = "Hong Kong recently hosted a symposium." if chars == 0 else article_of(chars, article)
    job, entry, cached = run(engine, cache, text=text)
    assert not cached
    assert_timings_cover(job, entry)
    reference = espeak_seconds(job.prepared, 175, tmp_path)
    assert entry.duration_s == pytest.approx(reference, rel=0.05)
    probe = ffprobe(entry.audio_path)
    assert float(probe["format"]["duration"]) == pytest.approx(entry.duration_s, abs=0.15)
    assert no_temp_files(cache.root) == []


@pytest.mark.parametrize("rate", [100, 300])
def test_duration_matches_espeak_at_other_rates(engine, cache, article, tmp_path, rate) -> None:  # type: ignore[no-untyped-def]
    job, entry, _ = run(engine, cache, text=article, rate=rate)
    assert entry.duration_s == pytest.approx(espeak_seconds(job.prepared, rate, tmp_path), rel=0.05)


@pytest.mark.parametrize(
    ("fmt", "codec", "rate"),
    [("mp3", "mp3", 22050), ("ogg", "opus", 48000), ("wav", "pcm_s16le", 22050)],
)
def test_formats_pass_ffprobe_with_reported_duration(
    engine, cache, article, fmt, codec, rate
) -> None:  # type: ignore[no-untyped-def]
    _, entry, _ = run(engine, cache, text=article[:800], fmt=fmt, title="Win-win", artist="HKTDC")
    assert entry.audio_path.suffix == "." + fmt
    probe = ffprobe(entry.audio_path)
    stream = probe["streams"][0]
    assert stream["codec_name"] == codec
    assert stream["channels"] == 1
    assert int(stream["sample_rate"]) == rate
    assert float(probe["format"]["duration"]) == pytest.approx(entry.duration_s, abs=0.15)


def test_mp3_has_id3_title_artist_length_and_bitrate(engine, cache, article) -> None:  # type: ignore[no-untyped-def]
    _, entry, _ = run(engine, cache, text=article[:800], title="Hong Kong, Beijing", artist="HKTDC")
    probe = ffprobe(entry.audio_path)
    tags = probe["format"]["tags"]
    assert tags["title"] == "Hong Kong, Beijing"
    assert tags["artist"] == "HKTDC"
    assert int(tags["TLEN"]) == round(entry.duration_s * 1000)
    assert int(probe["streams"][0]["bit_rate"]) == 64000


def test_second_request_is_served_from_cache(engine, cache, article) -> None:  # type: ignore[no-untyped-def]
    job1, entry1, cached1 = run(engine, cache, text=article[:500])
    job2, entry2, cached2 = run(engine, cache, text=article[:500])
    assert (cached1, cached2) == (False, True)
    assert job1.key == job2.key and entry1.content_hash == entry2.content_hash


def test_every_output_setting_changes_the_key(engine) -> None:  # type: ignore[no-untyped-def]
    voices = engine.voices()
    base = Request(text="Same words.")
    variants = [
        Request(text="Other words."),
        Request(text="Same words.", voice="gmw/en-us"),
        Request(text="Same words.", rate=200),
        Request(text="Same words.", pitch=60),
        Request(text="Same words.", volume=0.5),
        Request(text="Same words.", fmt="ogg"),
        Request(text="Same words.", bitrate_kbps=96),
    ]
    keys = {plan(r, voices).key for r in [base, *variants]}
    assert len(keys) == 1 + len(variants)
    # Copies that differ in nothing heard are one entry (workers.canonical)…
    assert plan(Request(text="Same   words.\n"), voices).key == plan(base, voices).key
    assert plan(Request(text="Same\u00a0wo\u00adrds."), voices).key == plan(base, voices).key
    # …but a line break is kept, and the timings index where it is.
    assert plan(Request(text="Same\nwords."), voices).key != plan(base, voices).key
    # Title and artist are written into the file's tags.
    assert plan(Request(text="Same words.", title="T"), voices).key != plan(base, voices).key
    assert plan(Request(text="Same words.", artist="A"), voices).key != plan(base, voices).key


def test_bad_input_gets_a_clear_error(engine) -> None:  # type: ignore[no-untyped-def]
    voices = engine.voices()
    cases = [
        (Request(text=""), EmptyText, "no letters"),
        (Request(text=" \n\t "), EmptyText, "no letters"),
        (Request(text="a" * 100_001), TextTooLong, "100,000"),
        (Request(text="Hi.", voice="no-such-voice"), UnknownVoice, "no-such-voice"),
        (Request(text="Hi.", rate=1000), InvalidSetting, "rate"),
        (Request(text="Hi.", rate=10), InvalidSetting, "rate"),
        (Request(text="Hi.", pitch=100), InvalidSetting, "pitch"),
        (Request(text="Hi.", volume=0), InvalidSetting, "volume"),
        (Request(text="Hi.", fmt="flac"), InvalidSetting, "format"),
        (Request(text="Hi.", bitrate_kbps=65), InvalidSetting, "bitrate"),
    ]
    for request, error, word in cases:
        with pytest.raises(error, match=word):
            plan(request, voices)


def test_configured_maximum_is_enforced(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TextTooLong, match="500"):
        plan(Request(text="word " * 200), engine.voices(), max_chars=500)


HOSTILE = {
    "emoji": "Good news 🎉🎉 for everyone 😀. Really 👍.",
    "cjk": "北京和香港的经济合作。双方代表出席了会议\uff01",
    "arabic": "مرحبا بكم في هونغ كونغ. هذه مقالة قصيرة؟",
    "hebrew": "שלום עולם. זה מאמר קצר.",
    "combining": "Cafe\u0301 and nai\u0308ve re\u0301sume\u0301s.",
    "controls": "Null\x00 bytes\x07 and\x1b escapes\x7f are\u200b removed.",
    "no punctuation": " ".join(["word"] * 3000),
    "unbroken": "x" * 5000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_text_is_synthesised_or_rejected_cleanly(engine, cache, name) -> None:  # type: ignore[no-untyped-def]
    try:
        job, entry, _ = run(engine, cache, text=HOSTILE[name])
    except EmptyText:
        assert cache.stats().entries == 0
    else:
        assert_timings_cover(job, entry)
        ffprobe(entry.audio_path)
        assert cache.get(job.key) is not None
    assert no_temp_files(cache.root) == []


class FailingEngine:
    """Fails after a few utterances: failure injection, not a stand-in for the engine."""

    def __init__(self, real, after: int) -> None:  # type: ignore[no-untyped-def]
        self.real, self.left = real, after

    def synthesize_words(self, text, settings):  # type: ignore[no-untyped-def]
        if self.left == 0:
            raise EngineError("injected failure")
        self.left -= 1
        return self.real.synthesize_words(text, settings)


def test_failure_midway_leaves_no_entry_and_no_temp_file(engine, cache, article) -> None:  # type: ignore[no-untyped-def]
    job = plan(Request(text=article), engine.voices())
    with pytest.raises(EngineError, match="injected"):
        synthesize(job, cache=cache, engine=FailingEngine(engine, after=3))  # type: ignore[arg-type]
    assert cache.get(job.key) is None
    assert no_temp_files(cache.root) == []
    entry, cached = synthesize(job, cache=cache, engine=engine)
    assert not cached and entry.meta["sentences"] == len(job.prepared.sentences)


def test_progress_is_reported_up_to_one(engine, cache, article) -> None:  # type: ignore[no-untyped-def]
    seen: list[float] = []
    job = plan(Request(text=article[:1500]), engine.voices())
    synthesize(job, cache=cache, engine=engine, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == len(job.prepared.sentences)
