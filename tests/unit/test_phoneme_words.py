"""Word marks from phoneme alignments (workers.phoneme_words): pure logic, no engine."""

from __future__ import annotations

from workers.phoneme_words import sounds, word_marks

RATE = 1000  # one sample a millisecond: marks read as sample numbers


def _said(phonemes: str) -> list[tuple[str, int]]:
    """Each phoneme of ``phonemes`` said for 10 samples, in order."""
    return [(p, 10 * n) for n, p in enumerate(phonemes)]


def _spans(text: str) -> list[tuple[int, int]]:
    found, at = [], 0
    for word in text.split():
        at = text.index(word, at)
        found.append((at, at + len(word)))
        at += len(word)
    return found


def test_sounds_leave_out_stress_length_pauses_and_punctuation() -> None:
    assert sounds(list("ˈɔːn ðə, mˈæt.")) == list("ɔnðəmæt")
    assert sounds(["^", "_", "$", " ", "ˌ"]) == []


def test_words_run_together_by_the_engine_are_found_apart() -> None:
    # espeak-ng says "on the" as one word: counting its spaces would misplace "mat".
    text = "sat on the mat"
    alone = [list("sˈæt"), list("ˈɔn"), list("ðə"), list("mˈæt")]
    said = _said("^sˈæt ɔnðə mˈæt.$")
    marks = word_marks(_spans(text), alone, said, RATE)
    assert [text[m.start : m.end] for m in marks] == ["sat", "on", "the", "mat"]
    # Each starts at its first sound, in samples of the utterance.
    assert [m.at_ms for m in marks] == [10, 60, 80, 110]


def test_a_word_said_differently_in_context_is_placed_in_proportion() -> None:
    # "a" alone is "ˈeɪ" but "ɐ" in a sentence; "was" is "wʌz" alone, "wəz" here.
    text = "it was a day"
    alone = [list("ˈɪt"), list("wˈʌz"), list("ˈeɪ"), list("dˈeɪ")]
    said = _said("ɪt wəzɐ dˈeɪ")
    marks = word_marks(_spans(text), alone, said, RATE)
    assert [text[m.start : m.end] for m in marks] == ["it", "was", "a", "day"]
    starts = [m.at_ms for m in marks]
    assert starts == sorted(starts) and starts[0] == 0
    assert said[starts[3] // 10][0] == "d"


def test_words_without_sounds_or_a_place_of_their_own_get_no_mark() -> None:
    text = "yes - yes"
    alone = [list("jˈɛs"), list("-"), list("jˈɛs")]
    marks = word_marks(_spans(text), alone, _said("jˈɛs jˈɛs"), RATE)
    assert [text[m.start : m.end] for m in marks] == ["yes", "yes"]
    # Two words where one sound was said: the second has no later place.
    text = "I I"
    marks = word_marks(_spans(text), [list("ˈaɪ"), list("ˈaɪ")], _said("ˈaɪ"), RATE)
    assert len(marks) == 1


def test_nothing_said_or_nothing_expected_gives_no_marks() -> None:
    assert word_marks(_spans("hello"), [list("həlˈoʊ")], [], RATE) == []
    assert word_marks(_spans("..."), [[]], _said("həlˈoʊ"), RATE) == []
