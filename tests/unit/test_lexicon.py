"""workers.lexicon: entries, JSON, matching, digest, and every validation error."""

from __future__ import annotations

from typing import Any

import pytest

from workers.errors import InputError
from workers.lexicon import GROWTH, MAX_ENTRIES, SLACK, Entry, Lexicon, LexiconError

ENTRIES: list[dict[str, Any]] = [
    {"graphemes": ["HKTDC"], "alias": "H K T D C"},
    {"graphemes": ["Sima", "SIMA"], "phoneme": "ˈsiːmə", "alphabet": "ipa"},
    {"graphemes": ["New York"], "phoneme": "nj'u: j'O:k", "alphabet": "x-espeak"},
    {"graphemes": ["York"], "alias": "Yorkshire"},
    {"graphemes": ["C++"], "alias": "C plus plus"},
]


@pytest.fixture
def lexicon() -> Lexicon:
    return Lexicon.from_json(ENTRIES)


def test_json_round_trip(lexicon: Lexicon) -> None:
    assert lexicon.to_json() == ENTRIES
    assert Lexicon.from_json(lexicon.to_json()) == lexicon


def test_json_shorthands() -> None:
    short = Lexicon.from_json([{"grapheme": "Sima", "phoneme": "ˈsiːmə"}])
    assert short.to_json() == [{"graphemes": ["Sima"], "phoneme": "ˈsiːmə", "alphabet": "ipa"}]


def test_alias_replaces_the_word_and_spans_map_back(lexicon: Lexicon) -> None:
    text = "The HKTDC said so."
    spoken = lexicon.apply(text)
    assert spoken.text == "The H K T D C said so."
    assert spoken.source_range(4, 13) == (4, 9)
    assert spoken.source_offset(spoken.text.index("said")) == text.index("said")


def test_phonemes_become_an_espeak_block(lexicon: Lexicon) -> None:
    assert lexicon.apply("Ask Sima.").text == "Ask [['si:m@]]."
    assert lexicon.apply("SIMA's").text == "[['si:m@]]'s"
    assert lexicon.apply("in New York").text == "in [[nj'u: j'O:k]]"


def test_a_phoneme_block_follows_a_space(lexicon: Lexicon) -> None:
    # espeak-ng reads "([[...]]" as nothing at all: a block must follow a space.
    spoken = lexicon.apply('("Sima")')
    assert spoken.text == '(" [[\'si:m@]]")'
    assert spoken.source_range(2, len(spoken.text) - 2) == (2, 6)
    assert lexicon.apply("(HKTDC)").text == "(H K T D C)"


def test_whole_words_only(lexicon: Lexicon) -> None:
    for text in ("HKTDCs", "preHKTDC", "HKTDC2", "_HKTDC", "Simao", "Yorkers", "C++x"):
        assert lexicon.apply(text).text == text, text
    assert lexicon.apply("(HKTDC)").text == "(H K T D C)"
    assert lexicon.apply("I like C++.").text == "I like C plus plus."


def test_case_counts(lexicon: Lexicon) -> None:
    assert lexicon.apply("hktdc sima").text == "hktdc sima"
    assert lexicon.apply("Sima SIMA").text == "[['si:m@]] [['si:m@]]"


def test_longest_match_wins_and_whitespace_runs_match(lexicon: Lexicon) -> None:
    spoken = lexicon.apply("New  York,\nnot York.")
    assert spoken.text == "[[nj'u: j'O:k]],\nnot Yorkshire."
    assert spoken.source_range(0, spoken.text.index(",")) == (0, len("New  York"))
    assert lexicon.apply("New\nYork").text == "[[nj'u: j'O:k]]"


def test_replacement_is_one_pass() -> None:
    lexicon = Lexicon.from_json([{"grapheme": "Bob", "alias": "Bob Bob"}])
    assert lexicon.apply("Bob.").text == "Bob Bob."


def test_applicable_keeps_what_the_text_uses(lexicon: Lexicon) -> None:
    text = "SIMA flew from New York to the HKTDC."
    used = lexicon.applicable(text)
    assert used.to_json() == [
        {"graphemes": ["HKTDC"], "alias": "H K T D C"},
        {"graphemes": ["SIMA"], "phoneme": "ˈsiːmə", "alphabet": "ipa"},
        {"graphemes": ["New York"], "phoneme": "nj'u: j'O:k", "alphabet": "x-espeak"},
    ]
    assert used.apply(text) == lexicon.apply(text)
    # York occurs, but only inside New York, which wins: it changes nothing here.
    assert "York" not in {g for e in used.entries for g in e.graphemes}
    assert len(lexicon.applicable("nothing to say")) == 0


def test_applicable_in_sentences_applied_one_by_one(lexicon: Lexicon) -> None:
    sentences = ["He flew to New", "York. Then Sima spoke."]
    used = lexicon.applicable_in(sentences)
    # Split across two sentences, New York is not a match; York alone is.
    assert [e.graphemes for e in used.entries] == [("Sima",), ("York",)]
    assert [used.apply(s) for s in sentences] == [lexicon.apply(s) for s in sentences]
    assert lexicon.applicable_in(["Sima", "HKTDC"]) == lexicon.applicable("Sima HKTDC")


def test_digest_is_empty_without_entries(lexicon: Lexicon) -> None:
    assert Lexicon().digest() == ""
    assert lexicon.applicable("no match here").digest() == ""


def test_digest_is_stable(lexicon: Lexicon) -> None:
    text = "Sima of the HKTDC"
    reordered = Lexicon.from_json(list(reversed(ENTRIES)))
    assert lexicon.applicable(text).digest() == reordered.applicable(text).digest()
    assert len(lexicon.digest()) == 64
    # An entry the text does not use leaves its digest alone.
    more = Lexicon.from_json([*ENTRIES, {"grapheme": "Beijing", "alias": "Bay-jing"}])
    assert more.applicable(text).digest() == lexicon.applicable(text).digest()


def test_digest_changes_with_what_is_heard(lexicon: Lexicon) -> None:
    text = "Sima of the HKTDC"
    before = lexicon.applicable(text).digest()
    edited = [dict(e) for e in ENTRIES]
    edited[0]["alias"] = "H.K.T.D.C."
    assert Lexicon.from_json(edited).applicable(text).digest() != before
    edited = [dict(e) for e in ENTRIES]
    edited[1]["phoneme"] = "ˈsɪmə"
    assert Lexicon.from_json(edited).applicable(text).digest() != before


def test_the_same_sound_in_either_alphabet_has_one_digest() -> None:
    ipa = Lexicon.from_json([{"grapheme": "Sima", "phoneme": "ˈsiːmə"}])
    espeak = Lexicon.from_json([{"grapheme": "Sima", "phoneme": "'si:m@", "alphabet": "x-espeak"}])
    assert ipa.apply("Sima").text == espeak.apply("Sima").text
    assert ipa.digest() == espeak.digest()


def test_an_alias_may_expand_within_bounds() -> None:
    grapheme = "EU"
    alias = "x" * (GROWTH * len(grapheme) + SLACK)
    assert Lexicon.from_json([{"grapheme": grapheme, "alias": alias}]).apply("EU").text == alias


BAD: list[tuple[Any, str]] = [
    ({"alias": "x"}, "needs grapheme"),
    ({"grapheme": "", "alias": "x"}, "grapheme is empty"),
    ({"graphemes": [], "alias": "x"}, "has no grapheme"),
    ({"graphemes": ["a"] * 21, "alias": "x"}, "more than 20 graphemes"),
    ({"grapheme": "x" * 101, "alias": "x"}, "longer than 100"),
    ({"grapheme": "ab", "alias": "x" * 201}, "longer than 200"),
    ({"grapheme": "a\x00b", "alias": "x"}, "control character U+0000"),
    ({"grapheme": "ab"}, "needs an alias or a phoneme"),
    ({"grapheme": "ab", "alias": "x", "phoneme": "æ"}, "needs an alias or a phoneme"),
    ({"grapheme": "ab", "alias": "  "}, "alias is empty"),
    ({"grapheme": "ab", "alias": "say [[h@l'oU]]"}, "'[' or ']'"),
    ({"grapheme": "ab", "alias": "a]"}, "'[' or ']'"),
    ({"grapheme": "ab", "alias": "[a"}, "'[' or ']'"),
    ({"grapheme": "ab", "alias": "x", "alphabet": "ipa"}, "an alias takes no alphabet"),
    ({"grapheme": "ab", "phoneme": "ab", "alphabet": "x-sampa"}, "alphabet 'x-sampa'"),
    ({"grapheme": "ab", "phoneme": "ʘ"}, "'ʘ' (U+0298 LATIN LETTER BILABIAL CLICK)"),
    ({"grapheme": "ab", "phoneme": "h]]@", "alphabet": "x-espeak"}, "without '[' or ']'"),
    ({"grapheme": "ab", "phoneme": "hé", "alphabet": "x-espeak"}, "printable ASCII"),
    ({"grapheme": "a", "alias": "x" * (GROWTH + SLACK + 1)}, "at most 8 per grapheme"),
    ({"grapheme": "ab", "alias": "x", "prefer": True}, "unknown field(s) prefer"),
    ({"grapheme": ["ab"], "alias": "x"}, "graphemes must be a list of strings"),
    ({"grapheme": "ab", "alias": 3}, "alias must be a string"),
    ("HKTDC", "must be a JSON object"),
]


@pytest.mark.parametrize(("item", "problem"), BAD)
def test_each_invalid_entry_is_named(item: Any, problem: str) -> None:
    with pytest.raises(LexiconError) as caught:
        Lexicon.from_json([{"grapheme": "fine", "alias": "ok"}, item])
    assert isinstance(caught.value, InputError)
    assert caught.value.code == "invalid_lexicon"
    assert str(caught.value).startswith("entry 2 (")
    assert problem in str(caught.value)


def test_a_grapheme_in_two_entries_is_refused() -> None:
    with pytest.raises(LexiconError, match=r"entry 2 \('Sima'\): .* already in entry 1"):
        Lexicon.from_json(
            [
                {"grapheme": "Sima", "alias": "See-mah"},
                {"graphemes": ["Simá", "Sima"], "alias": "x"},
            ]
        )


def test_too_many_entries() -> None:
    many = [{"grapheme": f"w{i}", "alias": "x"} for i in range(MAX_ENTRIES + 1)]
    with pytest.raises(LexiconError, match=f"at most {MAX_ENTRIES}"):
        Lexicon.from_json(many)
    assert len(Lexicon.from_json(many[:MAX_ENTRIES])) == MAX_ENTRIES


def test_not_a_list() -> None:
    with pytest.raises(LexiconError, match="a JSON list of entries"):
        Lexicon.from_json({"grapheme": "a", "alias": "b"})


def test_entries_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="needs an alias or a phoneme"):
        Entry(("ab",))
    with pytest.raises(ValueError, match="leading, trailing or double spaces"):
        Entry(("New  York",), alias="x")


def test_graphemes_read_from_json_are_tidied() -> None:
    lexicon = Lexicon.from_json([{"grapheme": " New\tYork ", "alias": "x"}])
    assert lexicon.entries[0].graphemes == ("New York",)


def test_a_full_lexicon_scans_a_long_text_once(lexicon: Lexicon) -> None:
    many = Lexicon.from_json([{"grapheme": f"w{i}", "alias": f"word {i}"} for i in range(5000)])
    text = "w17 and w4999 but not w5000. " * 3000
    spoken = many.apply(text)
    assert spoken.text.count("word 17") == 3000 and spoken.text.count("word 4999") == 3000
    assert len(spoken.spans) == 6000
    assert [e.graphemes for e in many.applicable(text).entries] == [("w17",), ("w4999",)]
