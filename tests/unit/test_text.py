"""Unit tests of text preparation: what the listener hears, and where it came from."""

from __future__ import annotations

import random
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from workers.errors import EmptyText, TextTooLong
from workers.text import (
    DEFAULT_CHUNK_CHARS,
    DEFAULT_MAX_CHARS,
    Chunk,
    PreparedText,
    chunk,
    estimate_seconds,
    prepare,
    split,
)

ARTICLE = Path(__file__).parents[1] / "fixtures" / "hktdc-beijing-symposium.txt"
KEPT_FORMAT_CHARS = {"\u200c", "\u200d"}  # ZWNJ and ZWJ shape Indic and Persian text


def texts(original: str) -> list[str]:
    return [s.text for s in prepare(original).sentences]


def speakable(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char) == "So"


def assert_faithful(original: str, prepared: PreparedText) -> None:
    """Spans are ordered, trimmed, cover every speakable character, and match the text."""
    previous_end = 0
    paragraph = 0
    for i, sentence in enumerate(prepared.sentences):
        assert sentence.index == i
        assert sentence.paragraph in (paragraph, paragraph + 1)
        paragraph = sentence.paragraph
        assert previous_end <= sentence.char_start < sentence.char_end <= len(original)
        gap = original[previous_end : sentence.char_start]
        assert not any(speakable(c) for c in gap), (gap, sentence)
        span = original[sentence.char_start : sentence.char_end]
        assert not span[0].isspace() and not span[-1].isspace()
        wanted = [c for c in unicodedata.normalize("NFC", span) if c.isalnum()]
        assert [c for c in sentence.text if c.isalnum()] == wanted
        assert sentence.text == sentence.text.strip() and "  " not in sentence.text
        previous_end = sentence.char_end
    assert not any(speakable(c) for c in original[previous_end:])
    assert prepared.paragraphs == paragraph + 1


def assert_chunks_fit(prepared: PreparedText, chunks: list[Chunk], limit: int) -> None:
    by_sentence: dict[int, list[str]] = {}
    for piece in chunks:
        assert 0 < len(piece.text) <= limit
        assert not unicodedata.category(piece.text[0]).startswith("M")
        by_sentence.setdefault(piece.sentence, []).append(piece.text)
    assert list(by_sentence) == [s.index for s in prepared.sentences]
    for sentence in prepared.sentences:
        pieces = by_sentence[sentence.index]
        if len(sentence.text) <= limit:
            assert pieces == [sentence.text]
        assert "".join("".join(pieces).split()) == "".join(sentence.text.split())


# -- the real article ------------------------------------------------------------


def test_article_paragraphs_sentences_and_offsets() -> None:
    original = ARTICLE.read_text(encoding="utf-8")
    prepared = prepare(original)

    assert prepared.paragraphs == 11
    assert len(prepared.sentences) == 19
    assert_faithful(original, prepared)
    for sentence in prepared.sentences:
        assert original[sentence.char_start : sentence.char_end] == sentence.text
    starts = [s.text.split(",")[0] for s in prepared.sentences]
    assert "The opening ceremony was addressed by Dr Peter KN Lam" in starts
    assert any(s.text.startswith("Mr Lee said support") for s in prepared.sentences)
    assert any(s.text.endswith("prosperity together.\u201d") for s in prepared.sentences)
    assert prepared.text.count("\n\n") == 10
    assert_chunks_fit(prepared, chunk(prepared), DEFAULT_CHUNK_CHARS)


def test_canonical_text_joins_sentences_and_paragraphs() -> None:
    prepared = prepare("One. Two.\n\n\n  \nThree!")
    assert prepared.text == "One. Two.\n\nThree!"
    assert [s.paragraph for s in prepared.sentences] == [0, 0, 1]


# -- sentence boundaries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("Mrs. Ms. Prof. St. Ives vs. Leeds. End.", ["Mrs. Ms. Prof. St. Ives vs. Leeds.", "End."]),
        ("Fruit, e.g. apples, i.e. food. Next.", ["Fruit, e.g. apples, i.e. food.", "Next."]),
        ("See No. 5 now. Answer no. Then go.", ["See No. 5 now.", "Answer no.", "Then go."]),
        ("It grew 3.5 per cent. Then 0.25.", ["It grew 3.5 per cent.", "Then 0.25."]),
        ("J. K. Rowling wrote it. Yes.", ["J. K. Rowling wrote it.", "Yes."]),
        (
            "The U.S. economy grew. In the U.S. It did.",
            ["The U.S. economy grew.", "In the U.S.", "It did."],
        ),
        (
            "Apples etc. are fine. Pears etc. The end.",
            ["Apples etc. are fine.", "Pears etc.", "The end."],
        ),
        (
            "On Jan. 5 we met. Acme Inc. Then lunch.",
            ["On Jan. 5 we met.", "Acme Inc.", "Then lunch."],
        ),
        ("Wait... what? Really?! Yes\u2026 No.", ["Wait... what?", "Really?!", "Yes\u2026", "No."]),
        (
            "He said \u201cStop.\u201d Then (he left.) Fine",
            ["He said \u201cStop.\u201d", "Then (he left.)", "Fine"],
        ),
        ("See example.com. Or v1.2.3 now.", ["See example.com.", "Or v1.2.3 now."]),
    ],
)
def test_sentence_boundaries(original: str, expected: list[str]) -> None:
    assert texts(original) == expected
    assert_faithful(original, prepare(original))


def test_cjk_splits_without_spaces() -> None:
    original = "\u4f60\u597d\u3002\u6211\u5f88\u597d\uff01\u4f60\u5462\uff1f\u597d\u7684"
    assert texts(original) == [
        "\u4f60\u597d\u3002",
        "\u6211\u5f88\u597d\uff01",
        "\u4f60\u5462\uff1f",
        "\u597d\u7684",
    ]


def test_arabic_urdu_and_hebrew() -> None:
    arabic = (
        "\u0645\u0631\u062d\u0628\u0627\u061f \u0643\u064a\u0641 \u062d\u0627\u0644\u0643."
        " \u062c\u064a\u062f"
    )
    assert len(texts(arabic)) == 3
    assert texts(arabic)[0].endswith("\u061f")
    assert texts("\u06cc\u06c1 \u06a9\u062a\u0627\u0628 \u06c1\u06d2\u06d4 \u0648\u06c1") == [
        "\u06cc\u06c1 \u06a9\u062a\u0627\u0628 \u06c1\u06d2\u06d4",
        "\u0648\u06c1",
    ]
    hebrew = (
        "\u05e9\u05dc\u05d5\u05dd. \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da? \u05d8\u05d5\u05d1"
    )
    assert len(texts(hebrew)) == 3
    assert_faithful(arabic, prepare(arabic))


# -- paragraphs and newlines ----------------------------------------------------------


def test_blank_lines_separate_paragraphs_and_single_newlines_are_spaces() -> None:
    prepared = prepare("First line\nstill first.\n \t\nSecond.")
    assert [(s.paragraph, s.text) for s in prepared.sentences] == [
        (0, "First line still first."),
        (1, "Second."),
    ]


def test_single_newlines_become_paragraphs_when_there_are_no_blank_lines() -> None:
    prepared = prepare("\n\nline one\nline two\r\nline three\n")
    assert [(s.paragraph, s.text) for s in prepared.sentences] == [
        (0, "line one"),
        (1, "line two"),
        (2, "line three"),
    ]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n", "\u2029"])
def test_any_newline_convention_gives_the_same_paragraphs(newline: str) -> None:
    original = f"A b{newline}c.{newline}{newline}D."
    prepared = prepare(original)
    assert prepared.text == "A b c.\n\nD."
    assert_faithful(original, prepared)


# -- cleaning ---------------------------------------------------------------------


def test_whitespace_collapses_including_nbsp_and_tabs() -> None:
    assert texts("a\u00a0\u00a0b\t\tc \u3000 d\u2003e") == ["a b c d e"]


def test_control_and_format_characters_are_removed() -> None:
    original = "\ufeff\u200eHel\x00lo\u200b wor\x07ld\u202e.\x1b"
    prepared = prepare(original)
    assert texts(original) == ["Hello world."]
    assert prepared.sentences[0].char_start == 2
    assert_faithful(original, prepared)


def test_every_control_and_format_character_is_handled() -> None:
    # Guards the hard-coded character class against the running Unicode database.
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        if category not in ("Cc", "Cf") or char in KEPT_FORMAT_CHARS:
            continue
        expected = "a b" if char.isspace() else "ab"
        # The blank line makes single newlines plain whitespace.
        assert texts(f"a{char}b\n\nc")[0] == expected, hex(code)


def test_zwj_and_zwnj_are_kept() -> None:
    assert texts("\u0645\u06cc\u200c\u062e\u0648\u0627\u0645 \U0001f469\u200d\U0001f4bb") == [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0645 \U0001f469\u200d\U0001f4bb"
    ]


def test_nfc_normalises_text_but_offsets_stay_on_the_original() -> None:
    original = "Cafe\u0301 ok. Next."
    prepared = prepare(original)
    first = prepared.sentences[0]
    assert first.text == "Caf\u00e9 ok."
    assert original[first.char_start : first.char_end] == "Cafe\u0301 ok."
    assert prepared.sentences[1].char_start == original.index("Next")


def test_emoji_are_speakable() -> None:
    assert texts("\U0001f600\U0001f600") == ["\U0001f600\U0001f600"]
    assert texts("Great \U0001f44d\U0001f3fd. Yes.") == ["Great \U0001f44d\U0001f3fd.", "Yes."]


def test_punctuation_only_sentences_are_dropped() -> None:
    assert texts("Hello.\n\n* * *\n\nWorld.") == ["Hello.", "World."]
    assert prepare("Hello.\n\n* * *\n\nWorld.").paragraphs == 2


# -- limits and empty input ---------------------------------------------------------


@pytest.mark.parametrize(
    "original",
    [
        "",
        "   ",
        "\n\n\t \r\n",
        "\x00\x01\x7f",
        "\u200b\ufeff\u200e",
        "... !!! ?",
        "\u2014 - \u2013",
    ],
)
def test_nothing_speakable_raises_empty_text(original: str) -> None:
    with pytest.raises(EmptyText):
        prepare(original)


def test_length_limit_is_inclusive() -> None:
    assert prepare("a" * 100, max_chars=100).sentences[0].text == "a" * 100
    with pytest.raises(TextTooLong, match=r"101.*100"):
        prepare("a" * 101, max_chars=100)
    prepare("word " * (DEFAULT_MAX_CHARS // 5))
    with pytest.raises(TextTooLong, match="100,001"):
        prepare("a" * (DEFAULT_MAX_CHARS + 1))


def test_too_long_is_checked_before_any_other_work() -> None:
    # Blank text would raise EmptyText if it were prepared at all.
    with pytest.raises(TextTooLong):
        prepare(" " * 5_000_000)


def test_a_full_size_article_prepares_quickly() -> None:
    original = (ARTICLE.read_text(encoding="utf-8") * 40)[:DEFAULT_MAX_CHARS]
    started = time.perf_counter()
    prepared = prepare(original)
    elapsed = time.perf_counter() - started
    assert_faithful(original, prepared)
    assert elapsed < 0.5  # about 25 ms on a laptop; generous for loaded CI machines


# -- chunking -----------------------------------------------------------------------


def test_a_sentence_that_fits_is_exactly_one_chunk() -> None:
    prepared = prepare("Short one. " + "x" * 600 + ".")
    chunks = chunk(prepared)
    assert chunks[0] == Chunk(0, "Short one.")
    assert [c.sentence for c in chunks[1:]] == [1, 1]


def test_twenty_thousand_characters_without_punctuation() -> None:
    for original in ("a" * 20_000, " ".join(["lorem", "ipsum", "dolor"] * 1_111)):
        prepared = prepare(original)
        chunks = chunk(prepared)
        assert len(chunks) >= 20_000 // DEFAULT_CHUNK_CHARS
        assert_chunks_fit(prepared, chunks, DEFAULT_CHUNK_CHARS)
    assert " ".join(c.text for c in chunks) == prepared.sentences[0].text


def test_long_sentences_split_after_clause_punctuation() -> None:
    clause = "word " * 15 + "end,"
    prepared = prepare(" ".join([clause] * 10) + " done.")
    chunks = chunk(prepared, chunk_chars=200)
    assert all(c.text.endswith(",") for c in chunks[:-1])
    assert_chunks_fit(prepared, chunks, 200)
    cjk = prepare(("\u6c49" * 40 + "\uff0c") * 10 + "\u3002")
    assert all(c.text.endswith("\uff0c") for c in chunk(cjk, chunk_chars=100)[:-1])


def test_numbers_with_commas_are_not_clause_breaks() -> None:
    prepared = prepare("x" * 45 + " 1,000 " + "y" * 60)
    assert chunk(prepared, chunk_chars=60)[0].text.endswith("1,000")


def test_hard_splits_never_separate_combining_marks_or_zwj_sequences() -> None:
    marks = prepare("x" + "q\u0301" * 400)  # no precomposed form, so NFC keeps the pairs
    pieces = chunk(marks)
    assert "".join(c.text for c in pieces) == marks.sentences[0].text
    assert_chunks_fit(marks, pieces, DEFAULT_CHUNK_CHARS)
    family = prepare("\U0001f469\u200d\U0001f4bb" * 300)
    for piece in chunk(family, chunk_chars=100):
        assert "\u200d" not in (piece.text[0], piece.text[-1])
        assert len(piece.text) <= 100


def test_chunk_size_is_validated() -> None:
    prepared = prepare("Hello there.")
    assert chunk(prepared, chunk_chars=50) == [Chunk(0, "Hello there.")]
    with pytest.raises(ValueError, match="at least 50"):
        chunk(prepared, chunk_chars=49)


# -- generated texts --------------------------------------------------------------------

PIECES = [
    "word", "Mr.", "Dr", "e.g.", "3.5", "U.S.", "J.", "end.", "Why?!", "so...",
    "\u201cQuote.\u201d",
    "\u4f60\u597d\u3002", "\u0645\u0631\u062d\u0628\u0627\u061f", "\u05e9\u05dc\u05d5\u05dd.",
    "e\u0301t\u00e9", "\U0001f600", "\U0001f469\u200d\U0001f4bb", "---", "(", ")", ",", "1,000",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", "\u00a0", "\t", "\n", "\r\n", "\n\n", "\n \n", "\x00", "\u200b"]


@pytest.mark.parametrize("seed", range(40))
def test_generated_texts_keep_offsets_and_chunks_honest(seed: int) -> None:
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randrange(1, 400)):
        parts.append(rng.choice(PIECES) if rng.random() < 0.95 else "z" * rng.randrange(700))
        parts.append(rng.choice(SEPARATORS))
    original = "".join(parts)
    prepared = prepare(original)
    assert_faithful(original, prepared)
    limit = rng.choice([50, 120, DEFAULT_CHUNK_CHARS])
    assert_chunks_fit(prepared, chunk(prepared, chunk_chars=limit), limit)


# -- duration estimate ------------------------------------------------------------------


def test_estimate_seconds_counts_letters_digits_cjk_and_pauses() -> None:
    letters = 0.067 * 100  # the figures fitted on the engine (workers.text)
    assert estimate_seconds("abcde " * 20) == pytest.approx(letters)
    assert estimate_seconds("abcde " * 20, 350) == pytest.approx(letters / 2)
    assert estimate_seconds("12345 " * 20) == pytest.approx(0.435 * 100)  # numbers become words
    assert estimate_seconds("\u6c49" * 100) == pytest.approx(0.229 * 100)
    one = estimate_seconds("Alpha beta. Gamma delta.")
    assert estimate_seconds("Alpha beta.\n\nGamma delta.") == pytest.approx(one + 0.25)
    assert one == pytest.approx(0.067 * 19 + 0.35)
    # A slower voice pauses longer, more than in proportion (as audio.Pauses).
    assert estimate_seconds("Alpha beta. Gamma delta.", 100) == pytest.approx(
        0.067 * 19 * 1.75 + 0.35 * 1.75**1.8
    )
    with pytest.raises(ValueError, match="wpm"):
        estimate_seconds("word", 0)


def test_double_brackets_are_collapsed_so_the_engine_never_reads_them_as_phonemes() -> None:
    original = "See [[h@l'oU]] and ]]] here [[[x."
    assert texts(original) == ["See [h@l'oU] and ] here [x."]
    assert_faithful(original, prepare(original))


def test_a_piece_is_never_cut_inside_a_phoneme_block() -> None:
    block = "[[nj'u: j'O:k s'Iti]]"
    text = "word " * 9 + block + " and more words after it"
    for limit in range(50, 70):
        pieces = split(text, limit)
        assert " ".join(pieces) == text
        assert all(p.count("[[") == p.count("]]") for p in pieces), (limit, pieces)


def test_the_first_piece_can_be_shorter_than_the_rest() -> None:
    text = (
        "The opening ceremony was addressed by Dr Peter Lam, Chairman of the Council, "
        "as well as John Lee, Chief Executive, and Yin Yong, the Mayor of Beijing, "
        "who spoke of trade, of culture and of the years ahead."
    )
    pieces = split(text, 120, first_chars=60)
    assert pieces[0] == "The opening ceremony was addressed by Dr Peter Lam,"
    assert all(len(p) <= 120 for p in pieces[1:]) and len(pieces[1]) > 60
    assert " ".join(pieces) == text
    assert split("A short one.", 120, first_chars=60) == ["A short one."]
    # A clause break ends the first piece however early it comes (later pieces
    # keep theirs only past half their length).
    early = "At noon, " + text
    assert split(early, 120, first_chars=55)[0] == "At noon,"
    assert split(early, 120)[0] != "At noon,"
    with pytest.raises(ValueError, match="first_chars must be at least"):
        split(text, 120, first_chars=10)


def test_a_first_piece_ends_only_at_a_clause_break_and_leaves_a_real_rest() -> None:
    # Its last clause break within the limit, not its first.
    two = "Yes, the first clause is short, and the second one is longer than the first."
    assert split(two, 250, first_chars=50) == [
        "Yes, the first clause is short,",
        "and the second one is longer than the first.",
    ]
    # No clause break within it: cut as if it had not been asked for.
    plain = "The committee published its long awaited report on the harbour and its prospects."
    assert split(plain, 250, first_chars=50) == [plain]
    long = plain + " " + plain.lower() + " " + plain.lower()
    assert split(long, 100, first_chars=50) == split(long, 100)
    # A word or two after the break: not worth a pause of its own.
    tail = "The committee published its report on the harbour, on Monday."
    assert split(tail, 250, first_chars=55) == [tail]
    # Never inside a phoneme block, though its phonemes hold a clause break.
    block = "Said [[h@l'oU, w'3:ld " + "a" * 50 + "]], and then more words follow, to end it."
    assert split(block, 250, first_chars=60) == [block]
    # Only ever shorter than the other pieces.
    assert split(two, 50, first_chars=200) == split(two, 50)


def test_the_player_estimates_with_the_same_figures() -> None:
    import re
    from pathlib import Path

    from workers import text

    player = Path(__file__).resolve().parents[2] / "listen_service" / "static" / "player.js"
    found = re.search(r"const EST = \{(.*?)\};", player.read_text())
    assert found, "player.js has no EST figures"
    figures = {k.strip(): float(v) for k, v in (p.split(":") for p in found.group(1).split(","))}
    assert figures == {
        "letter": text.SECONDS_PER_LETTER,
        "digit": text.SECONDS_PER_DIGIT,
        "cjk": text.SECONDS_PER_CJK,
        "sentence": text.SENTENCE_PAUSE_S,
        "paragraph": text.PARAGRAPH_PAUSE_S,
    }
