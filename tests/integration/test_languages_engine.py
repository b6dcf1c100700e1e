"""Chinese paragraphs through the real engine, with the voices ``voice_for`` picks.

The reference is the espeak-ng command line with the same voice and text: the
engine (pyttsx3 over libespeak-ng) must say the same thing, so about as long.
"""

# Chinese punctuation is the point.
# ruff: noqa: RUF001

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from workers.engine import SAMPLE_RATE, SpeechSettings
from workers.languages import paragraph_languages, speech_runs, voice_for

CANTONESE = "天文台表示，明日天氣酷熱，市民應避免長時間在戶外活動。"
MANDARIN = "气象台预计，未来三天华北地区将有大范围降雨。"
MIXED_MANDARIN = "腾讯公司 Tencent 今天公布了第三季度业绩。"
# Measured: the engine and the CLI agree within 1 %; the wrong voice is off by
# 20 % (yue vs cmn) to 30 % (Debian's broken sit/cmn vs the pinyin voice).
TOLERANCE = 0.05


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / SAMPLE_RATE


def espeak_cli_seconds(voice: str, text: str, tmp_path: Path) -> float:
    binary = shutil.which("espeak-ng")
    assert binary, "the espeak-ng command line is part of the test environment"
    out = tmp_path / "cli.wav"
    subprocess.run([binary, "-v", voice, "-w", str(out), text], check=True)
    with wave.open(str(out)) as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.parametrize(
    ("text", "lang", "cli_voice"),
    [(CANTONESE, "yue", "yue"), (MANDARIN, "cmn", "cmn-latn-pinyin")],
    ids=["cantonese", "mandarin"],
)
def test_chinese_paragraph_sounds_as_long_as_espeak_ng_says_it(  # type: ignore[no-untyped-def]
    engine, tmp_path: Path, text: str, lang: str, cli_voice: str
) -> None:
    assert paragraph_languages([text], None) == [lang]
    voice = voice_for(lang, engine.voices())
    pcm = engine.synthesize(text, SpeechSettings(voice.id))
    reference = espeak_cli_seconds(cli_voice, text, tmp_path)
    assert abs(seconds(pcm) - reference) <= TOLERANCE * reference, (seconds(pcm), reference)
    # About four syllables a second at the default rate: read as Chinese, not spelled out.
    assert 0.15 * len(text) < seconds(pcm) < 0.5 * len(text)


def test_mixed_mandarin_sentence_in_runs(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    voices = engine.voices()
    runs = speech_runs(MIXED_MANDARIN, "cmn")
    assert [lang for _, _, lang in runs] == ["cmn", "en", "cmn"]
    for a, b, lang in runs:
        piece = MIXED_MANDARIN[a:b].strip()
        pcm = engine.synthesize(piece, SpeechSettings(voice_for(lang, voices).id))
        reference = espeak_cli_seconds(
            "cmn-latn-pinyin" if lang == "cmn" else "en", piece, tmp_path
        )
        assert abs(seconds(pcm) - reference) <= TOLERANCE * reference + 0.05, (piece, lang)
