"""The pyttsx3/espeak-ng adapter, driven for real."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap

import pytest

from workers.engine import SAMPLE_RATE, SpeechSettings
from workers.errors import EngineError

EN = SpeechSettings("gmw/en")


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / SAMPLE_RATE


def test_short_text_renders_pcm(engine) -> None:  # type: ignore[no-untyped-def]
    pcm = engine.synthesize("Hello, reader.", EN)
    assert 0.5 < seconds(pcm) < 3


def test_long_chunk_waits_for_the_whole_wav(engine, article) -> None:  # type: ignore[no-untyped-def]
    # runAndWait alone returns before a text of this length is written.
    text = article[:600]
    pcm = engine.synthesize(text, EN)
    words = len(text.split())
    assert seconds(pcm) > words / 175 * 60 * 0.8


def test_consecutive_calls_each_produce_their_own_audio(engine) -> None:  # type: ignore[no-untyped-def]
    short = engine.synthesize("One.", EN)
    long = engine.synthesize("One two three four five six seven eight nine ten.", EN)
    again = engine.synthesize("One.", EN)
    assert seconds(long) > 2 * seconds(short)
    assert abs(seconds(short) - seconds(again)) < 0.05


def test_rate_changes_duration(engine, article) -> None:  # type: ignore[no-untyped-def]
    text = article[:300]
    slow = seconds(engine.synthesize(text, SpeechSettings("gmw/en", rate=120)))
    fast = seconds(engine.synthesize(text, SpeechSettings("gmw/en", rate=300)))
    assert slow > 2 * fast


def test_voices_have_ids_names_languages(engine) -> None:  # type: ignore[no-untyped-def]
    voices = {v.id: v for v in engine.voices()}
    assert "gmw/en" in voices and "gmw/en-us" in voices
    assert voices["gmw/en-us"].languages == ("en-us",)
    assert all(v.name and v.languages for v in voices.values())


def test_stdout_stays_clean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    script = textwrap.dedent(
        """
        from workers.engine import get_engine, SpeechSettings
        get_engine().synthesize("Quiet please.", SpeechSettings("gmw/en"))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""


def test_a_long_text_is_read_within_its_bounds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # pyttsx3's Synth told espeak-ng the text was ten times its length, and
    # espeak-ng copied that much: past the end of a text this long the read
    # leaves the mapped memory and the process dies with SIGSEGV (always,
    # here). The spaces keep the audio, and so the test, short.
    script = textwrap.dedent(
        """
        from workers.engine import get_engine, SpeechSettings
        pcm = get_engine().synthesize(" " * 200_000 + "Still here.", SpeechSettings("gmw/en"))
        print(len(pcm))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr}"
    assert int(out.stdout) > SAMPLE_RATE // 2  # half a second of "Still here."


def test_phonemes_in_double_brackets_are_spoken_as_phonemes(engine) -> None:  # type: ignore[no-untyped-def]
    # What a lexicon's phoneme entry becomes; read as text, the mnemonics
    # would be spelt out symbol by symbol, several times longer.
    word = engine.synthesize("hello", EN)
    phonemes = engine.synthesize("[[h@l'oU]]", EN)
    assert 0.7 < len(phonemes) / len(word) < 1.4


def _use_parent_engine(queue) -> None:  # type: ignore[no-untyped-def]
    from workers.engine import get_engine

    try:
        get_engine()
    except EngineError as exc:
        queue.put(f"refused: {exc}")
    else:
        queue.put("created")


def test_engine_from_before_a_fork_is_refused_not_hung(engine) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_use_parent_engine, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert queue.get(timeout=5).startswith("refused: an engine was created in parent process")


def _lazy_engine_in_child(queue) -> None:  # type: ignore[no-untyped-def]
    from workers.engine import get_engine

    queue.put(len(get_engine().synthesize("Made in the child.", EN)))


def test_engine_created_lazily_in_a_child_works() -> None:
    # A spawned child (as Celery's pool children create theirs after start).
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_lazy_engine_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) > SAMPLE_RATE


def test_missing_wav_is_an_error_never_success(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The driver cannot write its WAV: the adapter must raise, not return audio.
    script = textwrap.dedent(
        f"""
        import pathlib, sys
        import workers.engine as m
        m.utterance_timeout = lambda text: 3.0
        e = m.get_engine()
        e._wav = pathlib.Path({str(tmp_path / "gone" / "x.wav")!r})
        try:
            e.synthesize("This cannot be saved.", m.SpeechSettings("gmw/en"))
        except m.EngineError as exc:
            print(type(exc).__name__, exc)
            sys.exit(3)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.startswith(("EngineTimeout", "EngineError"))


@pytest.mark.parametrize(
    "text",
    [
        "😀 🎉",
        "北京和香港的经济合作。",
        "مرحبا بكم في هونغ كونغ.",
        "שלום עולם.",
        "e\u0301te\u0301 cafe\u0301.",
    ],
)
def test_scripts_render_or_are_silent_without_crashing(engine, text) -> None:  # type: ignore[no-untyped-def]
    pcm = engine.synthesize(text, EN)
    assert len(pcm) % 2 == 0
