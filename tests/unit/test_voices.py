import pytest

from workers.errors import InvalidSetting, UnknownVoice
from workers.voices import Voice, check_range, resolve_voice

VOICES = [
    Voice("gmw/en-029", "English (Caribbean)", ("en-029",), "male"),
    Voice("gmw/en", "English (Great Britain)", ("en-gb",), "male"),
    Voice("gmw/en-us", "English (America)", ("en-us",), "male"),
    Voice("roa/pt", "Portuguese (Portugal)", ("pt",), "male"),
    Voice("sit/cmn", "Chinese (Mandarin)", ("cmn",), "male"),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "gmw/en"),
        ({"voice": "gmw/en-us"}, "gmw/en-us"),
        ({"voice": "EN-US"}, "gmw/en-us"),
        ({"voice": "english (america)"}, "gmw/en-us"),
        ({"lang": "en"}, "gmw/en"),
        ({"lang": "en_US"}, "gmw/en-us"),
        ({"lang": "pt-BR"}, "roa/pt"),
        ({"lang": "cmn"}, "sit/cmn"),
        ({"voice": "  ", "lang": "pt"}, "roa/pt"),
    ],
)
def test_resolve_voice(kwargs: dict[str, str], expected: str) -> None:
    assert resolve_voice(VOICES, **kwargs).id == expected


def test_voice_wins_over_lang() -> None:
    assert resolve_voice(VOICES, voice="sit/cmn", lang="en").id == "sit/cmn"


@pytest.mark.parametrize("kwargs", [{"voice": "klingon"}, {"lang": "tlh"}])
def test_unknown_voice_names_it(kwargs: dict[str, str]) -> None:
    with pytest.raises(UnknownVoice, match=r"klingon|tlh"):
        resolve_voice(VOICES, **kwargs)


def test_no_voices_installed() -> None:
    with pytest.raises(UnknownVoice, match="no voices"):
        resolve_voice([])


@pytest.mark.parametrize("value", [79, 451, float("nan"), "fast", True, None])
def test_check_range_rejects(value: object) -> None:
    with pytest.raises(InvalidSetting, match="rate"):
        check_range("rate", value, 80, 450)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [80, 175, 450, 200.5])
def test_check_range_accepts(value: float) -> None:
    check_range("rate", value, 80, 450)


MORE_VOICES = [
    *VOICES,
    Voice("sit/cmn-latn-pinyin", "Chinese (Mandarin, latin as Pinyin)", ("cmn-latn-pinyin",), None),
    Voice("sit/yue-latn-jyutping", "Chinese (Cantonese, latin as Jyutping)", ("yue",), "male"),
    Voice("sit/yue", "Chinese (Cantonese)", ("yue",), "male"),
    Voice("gmw/nb", "Norwegian Bokmål", ("nb",), "male"),
    Voice("roa/fr", "French (France)", ("fr-fr",), "male"),
]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        # Chinese page tags, and the voices that read Han correctly.
        ("zh-HK", "sit/yue"),
        ("zh_Hant", "sit/yue"),
        ("yue", "sit/yue"),
        ("zh-TW", "sit/cmn-latn-pinyin"),
        ("zh", "sit/cmn-latn-pinyin"),
        ("cmn", "sit/cmn-latn-pinyin"),
        # The base language's voice file, for a region espeak-ng has no voice for.
        ("fr-CA", "roa/fr"),
        # Codes pages use that espeak-ng knows by another.
        ("no", "gmw/nb"),
        ("nn-NO", "gmw/nb"),
    ],
)
def test_resolve_page_languages(lang: str, expected: str) -> None:
    assert resolve_voice(MORE_VOICES, lang=lang).id == expected


def test_piper_is_given_sentences_in_bounded_pieces() -> None:
    from workers.voices import PIECE_CHARS, PIPER, piece_chars

    assert piece_chars("piper:en_US-joe-medium", 600) == PIECE_CHARS[PIPER] < 600
    assert piece_chars("piper:en_US-joe-medium", 120) == 120  # a smaller bound stays
    assert piece_chars("gmw/en-us", 600) == 600  # espeak-ng's as before


def test_piper_says_an_articles_opening_words_first_in_a_shorter_piece() -> None:
    from workers.voices import FIRST_PIECE_CHARS, PIECE_CHARS, PIPER, first_piece_chars

    joe = "piper:en_US-joe-medium"
    assert first_piece_chars(joe, 600) == FIRST_PIECE_CHARS[PIPER] < PIECE_CHARS[PIPER]
    assert first_piece_chars(joe, 80) == 80  # never more than a piece
    assert first_piece_chars("gmw/en-us", 600) == 600  # espeak-ng is fast enough whole
