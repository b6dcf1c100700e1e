"""Assembly and encoding with real ffmpeg and pydub."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydub import AudioSegment
from pydub.generators import Sine

from tests.conftest import ffprobe
from workers.audio import Assembler, Encoder, EncodeSettings, Pauses
from workers.errors import EncoderError, InvalidSetting


def tone(ms: int, silence_ms: int = 0) -> bytes:
    quiet = AudioSegment.silent(silence_ms, frame_rate=22050)
    beep = Sine(440).to_audio_segment(ms, volume=-30).set_frame_rate(22050).set_sample_width(2)
    return (quiet + beep.set_channels(1) + quiet).raw_data


def test_assembler_trims_pauses_levels_and_times(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    with Encoder(out, EncodeSettings("wav")) as enc:
        asm = Assembler(enc)
        asm.pause(500)  # nothing before the first sound
        first = asm.add(tone(1000, silence_ms=300))
        asm.pause(250)
        second = asm.add(tone(500, silence_ms=300))
        enc.finish(asm.position_ms)
    assert first == (0, 1000)
    assert second == (1250, 1750)
    with out.open("rb") as f:  # pydub leaves a path it opened unclosed
        audio = AudioSegment.from_wav(f)
    assert len(audio) == 1750
    # -30 dBFS in, levelled towards -18 dBFS (RMS of a sine is 3 dB under its peak).
    assert audio[:1000].dBFS == pytest.approx(-18, abs=0.5)


def test_silent_utterance_adds_nothing(tmp_path: Path) -> None:
    with Encoder(tmp_path / "s.wav", EncodeSettings("wav")) as enc:
        asm = Assembler(enc)
        assert asm.add(bytes(22050 * 2)) == (0, 0)
        enc.finish(0)


def test_ffmpeg_failure_is_an_encoder_error_with_its_message(tmp_path: Path) -> None:
    enc = Encoder(tmp_path / "missing-dir" / "x.mp3", EncodeSettings())
    enc.write(tone(200))
    with pytest.raises(EncoderError, match="No such file or directory"):
        enc.finish(200)


def test_abort_kills_ffmpeg(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), Encoder(tmp_path / "x.mp3", EncodeSettings()) as enc:
        enc.write(tone(200))
        raise RuntimeError("caller failed")
    assert enc._proc.returncode is not None


def test_mp3_bitrate_is_configurable(tmp_path: Path) -> None:
    out = tmp_path / "b.mp3"
    with Encoder(out, EncodeSettings("mp3", 96)) as enc:
        enc.write(tone(2000))
        enc.finish(2000)
    assert int(ffprobe(out)["streams"][0]["bit_rate"]) == 96000


@pytest.mark.parametrize(
    ("settings", "word"),
    [
        (EncodeSettings("aac"), "format"),
        (EncodeSettings("mp3", 100), "mp3 bitrate"),
        (EncodeSettings("ogg", 8), "opus bitrate"),
    ],
)
def test_invalid_encode_settings(settings: EncodeSettings, word: str) -> None:
    with pytest.raises(InvalidSetting, match=word):
        settings.validate()


def test_wav_ignores_bitrate_for_the_key() -> None:
    assert (
        EncodeSettings("wav", 64).effective_bitrate == EncodeSettings("wav", 128).effective_bitrate
    )


def test_pauses_shrink_as_speech_gets_faster() -> None:
    assert Pauses().scaled(175) == Pauses()
    slow, fast = Pauses().scaled(100), Pauses().scaled(300)
    assert slow.sentence_ms > Pauses().sentence_ms > fast.sentence_ms
    assert fast.paragraph_ms > fast.sentence_ms > fast.clause_ms
