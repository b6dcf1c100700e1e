"""Word timings from the engine's word marks (workers/words.py), on made-up marks: the
engine's own are tested in tests/integration/test_words.py."""

from __future__ import annotations

from workers.engine import WordMark
from workers.spoken import Spoken
from workers.words import Word, as_json, piece_words, source_map, tokens, written


def placed(at_ms: int) -> int:
    return 1000 + at_ms  # the piece starts 1 s into the programme


def test_tokens_leave_out_punctuation_and_brackets() -> None:
    text = "(About £20) — really? [[h@l'oU]] e-mails."
    assert [text[a:b] for a, b in tokens(text)] == [
        "About",
        "£20",
        "really",
        "h@l'oU",
        "e-mails",
    ]


def test_each_mark_dates_its_word_and_a_word_ends_where_the_next_begins() -> None:
    piece = "The ferries cross."
    marks = [WordMark(0, 3, 0), WordMark(4, 11, 150), WordMark(12, 17, 500)]
    words = piece_words(piece, 10, marks, placed, end_ms=1900)
    assert words == [
        Word(10, 13, 1000, 1150),
        Word(14, 21, 1150, 1500),
        Word(22, 27, 1500, 1900),
    ]


def test_a_word_without_a_mark_is_said_with_the_one_before() -> None:
    # espeak-ng says "per cent" as one, then marks an offset inside "per".
    piece = "five per cent in May"
    marks = [WordMark(0, 4, 0), WordMark(5, 8, 300), WordMark(6, 9, 420), WordMark(14, 16, 800)]
    words = piece_words(piece, 0, marks, placed, end_ms=2000)
    assert [(piece[w.start : w.end], w.start_ms, w.end_ms) for w in words] == [
        ("five", 1000, 1300),
        ("per cent", 1300, 1800),
        ("in May", 1800, 2000),
    ]


def test_no_marks_no_words_and_words_before_the_first_mark_start_with_the_audio() -> None:
    assert piece_words("Hello there.", 0, [], placed, 1500) == []
    words = piece_words("Oh, hello there.", 0, [WordMark(4, 9, 200)], placed, 1500)
    assert [(w.start, w.end, w.start_ms) for w in words] == [(0, 2, 1000), (4, 15, 1200)]


def test_the_spoken_words_of_one_written_word_are_one_word() -> None:
    spoken = Spoken.build("rose 3.5% today", [(5, 9, "three point five percent")])
    said = [
        Word(0, 4, 0, 100),
        Word(5, 10, 100, 200),
        Word(11, 16, 200, 300),
        Word(17, 21, 300, 400),
        Word(22, 29, 400, 500),
        Word(30, 35, 500, 600),
    ]
    assert written(said, spoken) == [
        Word(0, 4, 0, 100),
        Word(5, 9, 100, 500),
        Word(10, 15, 500, 600),
    ]


def test_offsets_go_back_to_the_submitted_text() -> None:
    raw = "Soft\u00adhyphen and [[x]] here"
    cleaned = "Softhyphen and [x] here"
    mapping = source_map(raw, cleaned)
    assert len(mapping) == len(cleaned) + 1
    assert raw[mapping[4]] == "h" and raw[mapping[cleaned.index("here")]] == "h"
    word = Word(0, 10, 0, 10)  # "Softhyphen"
    [found] = as_json([word], mapping, base=100)
    assert (found["char_start"], found["char_end"]) == (100, 100 + len("Soft\u00adhyphen"))
