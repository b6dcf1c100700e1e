"""Spoken text and its map back to the written text (workers.spoken)."""

from __future__ import annotations

import random

import pytest

from workers.spoken import Span, Spoken, compose


def _replay(source: str, spoken: Spoken) -> str:
    """The spoken text rebuilt from the source and the spans alone."""
    pieces = [(s.src_start, s.src_end, spoken.text[s.out_start : s.out_end]) for s in spoken.spans]
    return Spoken.build(source, pieces).text


def test_build_records_each_rewritten_piece() -> None:
    pieces = [(3, 7, "twenty nineteen"), (9, 12, "five million pounds")]
    spoken = Spoken.build("In 2019, £5m.", pieces)
    assert spoken.text == "In twenty nineteen, five million pounds."
    assert spoken.spans == (Span(3, 7, 3, 18), Span(9, 12, 20, 39))
    assert spoken.source_offset(0) == 0
    assert spoken.source_offset(10) == 3  # inside "twenty nineteen": the piece's start
    assert spoken.source_offset(18) == 7  # just after it
    assert spoken.source_offset(19) == 8  # the comma
    assert spoken.source_range(3, 18) == (3, 7)
    assert spoken.source_range(20, 24) == (9, 12)
    assert spoken.source_range(0, 2) == (0, 2)


def test_pieces_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="out of order"):
        Spoken.build("abcdef", [(3, 4, "x"), (1, 2, "y")])


def test_compose_maps_the_second_rewrite_back_to_the_first_source() -> None:
    source = "Dr Lam paid HK$2bn."
    first = Spoken.build(source, [(0, 2, "doctor")])  # a lexicon, say
    text = first.text  # "doctor Lam paid HK$2bn."
    start = text.index("HK$2bn")
    second = Spoken.build(text, [(start, start + 6, "two billion Hong Kong dollars")])
    both = compose(first, second)
    assert both.text == "doctor Lam paid two billion Hong Kong dollars."
    assert _replay(source, both) == both.text
    assert [(s.src_start, s.src_end) for s in both.spans] == [(0, 2), (12, 18)]


def test_compose_merges_a_piece_rewritten_twice() -> None:
    source = "No. 5"
    first = Spoken.build(source, [(0, 3, "number")])
    second = Spoken.build(first.text, [(0, 8, "number five")])
    both = compose(first, second)
    assert both.text == "number five"
    assert both.spans == (Span(0, 5, 0, 11),)


def test_compose_keeps_every_offset_mappable_on_random_rewrites() -> None:
    rng = random.Random(7)
    words = ["2019", "£5m", "Dr", "St.", "the", "vs.", "3-5%", "HKTDC"]
    for _ in range(500):
        source = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))

        def rewrite(text: str) -> Spoken:
            pieces, at = [], 0
            while at < len(text):
                start = rng.randint(at, len(text))
                end = min(len(text), start + rng.randint(0, 4))
                if rng.random() < 0.5:
                    pieces.append((start, end, "x" * rng.randint(0, 6)))
                at = end + 1
            return Spoken.build(text, pieces)

        first = rewrite(source)
        second = rewrite(first.text)
        both = compose(first, second)
        assert _replay(source, both) == second.text, (source, first, second, both)
        for offset in range(len(both.text) + 1):
            assert 0 <= both.source_offset(offset) <= len(source)
