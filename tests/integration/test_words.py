"""Word timings with the real engines and ffmpeg: every word of the submitted text has a
start and end within its sentence, in order, and what it spans is speech — for
espeak-ng (its word events) and for the Piper test voice (its phoneme alignments)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from pydub import AudioSegment

from audio_cache import AudioCache
from workers.canonical import canonical_text
from workers.pipeline import Request, plan, synthesize
from workers.speakers import Speaker

JOE = "piper:en_US-joe-medium"

NEWS = (
    "Prices rose 3.5% in May, the caf\u00e9 said.\n\n"
    "Dr Smith paid $25 (about \u00a320) on 3 March 2024 \u2014 really? "
    "The U.S. e-mails of the 1990s were re\u00adread. "
    "Hong Kong's GDP grew by 2.7 per cent in the first quarter."
)


@pytest.fixture(scope="module")
def speaker() -> Speaker:
    return Speaker()


@pytest.fixture(params=["espeak-ng", "piper"])
def voice(request: pytest.FixtureRequest, engine: Any, speaker: Speaker) -> tuple[Any, str | None]:
    """An engine and the voice to ask it for (None: espeak-ng's for the language)."""
    return (engine, None) if request.param == "espeak-ng" else (speaker, JOE)


def _words(voice: tuple[Any, str | None], cache: AudioCache, text: str) -> tuple[str, Any]:
    engine, voice_id = voice
    job = plan(Request(text=text, voice=voice_id, fmt="wav"), engine.voices())
    entry, _ = synthesize(job, cache=cache, engine=engine)
    assert entry.meta["voice"] == (voice_id or entry.meta["voice"])
    return job.text, entry


def test_every_word_is_timed_in_order_within_its_sentence(
    voice: tuple[Any, str | None], cache: AudioCache
) -> None:
    text, entry = _words(voice, cache, NEWS)
    assert text == canonical_text(NEWS)
    for sentence in entry.meta["timings"]:
        words = sentence["words"]
        assert words, sentence
        said = text[sentence["char_start"] : sentence["char_end"]]
        # In order, back to back within the sentence's time and text.
        assert words[0]["start_ms"] == sentence["start_ms"]
        assert words[-1]["end_ms"] <= sentence["end_ms"]
        for a, b in itertools.pairwise(words):
            assert a["char_end"] <= b["char_start"] and a["end_ms"] <= b["start_ms"]
        for w in words:
            assert sentence["char_start"] <= w["char_start"] < w["char_end"] <= sentence["char_end"]
            assert w["start_ms"] < w["end_ms"]
        # Every letter and digit of the sentence lies in one of its words.
        covered = {i for w in words for i in range(w["char_start"], w["char_end"])}
        for m in re.finditer(r"[^\W_]", said):
            assert sentence["char_start"] + m.start() in covered, (said, m.group(), words)
    first = entry.meta["timings"][0]["words"]
    assert [text[w["char_start"] : w["char_end"]] for w in first] == [
        "Prices",
        "rose",
        "3.5%",
        "in",
        "May",
        "the",
        "caf\u00e9",
        "said",
    ]


def test_a_words_span_is_speech(voice: tuple[Any, str | None], cache: AudioCache) -> None:
    _, entry = _words(voice, cache, NEWS)
    with entry.audio_path.open("rb") as f:  # pydub leaves a path it opened unclosed
        audio = AudioSegment.from_wav(f)
    quiet = audio.dBFS - 20  # the programme is levelled towards one loudness
    for sentence in entry.meta["timings"]:
        for w in sentence["words"]:
            span = audio[w["start_ms"] : w["end_ms"]]
            assert span.dBFS > quiet, (w, span.dBFS, audio.dBFS)
    # And the pauses between sentences are not inside any word.
    timings = entry.meta["timings"]
    for a, b in itertools.pairwise(timings):
        gap = audio[a["words"][-1]["end_ms"] : b["words"][0]["start_ms"]]
        assert len(gap) > 200 and gap.dBFS < quiet


def test_long_sentences_in_several_pieces_keep_their_words(
    voice: tuple[Any, str | None], cache: AudioCache
) -> None:
    engine, voice_id = voice
    clause = "the ferry crossed the harbour slowly"
    text = ", and ".join(f"{clause} {n}" for n in range(20)) + "."
    job = plan(Request(text=text, voice=voice_id, fmt="wav"), engine.voices())
    entry, _ = synthesize(job, cache=cache, engine=engine, chunk_chars=120)
    [sentence] = entry.meta["timings"]
    words = sentence["words"]
    said = [job.text[w["char_start"] : w["char_end"]] for w in words]
    assert said.count("ferry") == 20 and said[-1] == "19"
    assert all(a["end_ms"] <= b["start_ms"] for a, b in itertools.pairwise(words))
