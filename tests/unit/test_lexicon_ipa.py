"""workers.lexicon.ipa: English IPA → espeak-ng mnemonics (checked against espeak-ng itself
in tests/integration/test_lexicon_engine.py)."""

from __future__ import annotations

import pytest

from workers.lexicon.ipa import TABLE, UnknownSymbol, to_espeak


@pytest.mark.parametrize(
    ("ipa", "espeak"),
    [
        ("ˈsiːmə", "'si:m@"),
        ("θɔːt", "TO:t"),
        ("ðə bɜːd", "D@ b3:d"),
        ("tʃɜːtʃ", "tS3:tS"),
        ("t͡ʃɜːt͡ʃ", "tS3:tS"),
        ("ʧɜːʧ", "tS3:tS"),
        ("dʒʌdʒ", "dZVdZ"),
        ("ˈvɪʒən", "'vIZ@n"),
        ("sɪŋ", "sIN"),
        ("ɡəʊ", "goU"),
        ("ɡoʊ", "goU"),
        ("ˈfɑːðə", "'fA:D@"),
        ("kæt", "kat"),
        ("bɛd", "bEd"),
        ("lɒt", "l0t"),
        ("fʊt", "fUt"),
        ("ɡuːs", "gu:s"),
        ("deɪ naɪn bɔɪ haʊs", "deI naIn bOI haUs"),
        ("nɪə heə tʊə", "ni@ he@ tU@"),
        ("faɪə", "faI@"),
        ("ˈwɔːɾɚ", "'wO:t3"),
        ("ˈbʌtn̩", "'bVt@n"),
        ("ˈlɪtl̩", "'lIt@L"),
        ("ˌeɪtʃ ˌkeɪ", ",eItS ,keI"),
        ("ˈhæp.i", "'hapi"),
        ("ɹɛd", "rEd"),
    ],
)
def test_words(ipa: str, espeak: str) -> None:
    assert to_espeak(ipa) == espeak


def test_slashes_spaces_and_ascii_marks_people_type() -> None:
    assert to_espeak("/ˈsiːmə/") == to_espeak("  'si:mə ") == "'si:m@"
    assert to_espeak("[ˈsiː  mə]") == "'si: m@"


def test_marks_without_sound_are_dropped() -> None:
    assert to_espeak("pʰɪt") == "pIt"
    assert to_espeak("əˑ") == "@"
    assert to_espeak("ə‿ə") == "@@"


@pytest.mark.parametrize("symbol", ["ʘ", "ɬ", "ç", "ẽ", "1", "q"])
def test_unknown_symbols_are_named(symbol: str) -> None:
    with pytest.raises(UnknownSymbol) as caught:
        to_espeak(f"ab{symbol}")
    assert caught.value.symbol == symbol[0]
    assert repr(symbol[0]) in str(caught.value)
    assert f"U+{ord(symbol[0]):04X}" in str(caught.value)


def test_every_target_is_an_espeak_mnemonic_string() -> None:
    assert all(v.isascii() and "[" not in v and "]" not in v for v in TABLE.values())
