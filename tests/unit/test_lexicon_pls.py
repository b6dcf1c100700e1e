"""workers.lexicon.pls: PLS 1.0 documents in and out, and the XML that is refused."""

from __future__ import annotations

import pytest

from workers.lexicon import Lexicon, LexiconError, MalformedDocument

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" '
    'alphabet="{alphabet}" xml:lang="en-US">\n'
)


def document(body: str, alphabet: str = "ipa") -> bytes:
    return (HEAD.format(alphabet=alphabet) + body + "</lexicon>\n").encode("utf-8")


# As published by Amazon Polly's guide (W3C → World Wide Web Consortium) plus a phoneme lexeme.
POLLY = document(
    """
  <lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>
  <lexeme>
    <grapheme>Sima</grapheme><grapheme>SIMA</grapheme>
    <phoneme>ˈsiːmə</phoneme>
    <example>Sima spoke.</example>
  </lexeme>
"""
)


def test_reads_aliases_phonemes_and_several_graphemes() -> None:
    lexicon = Lexicon.from_pls(POLLY)
    assert lexicon.to_json() == [
        {"graphemes": ["W3C"], "alias": "World Wide Web Consortium"},
        {"graphemes": ["Sima", "SIMA"], "phoneme": "ˈsiːmə", "alphabet": "ipa"},
    ]


def test_round_trip() -> None:
    lexicon = Lexicon.from_json(
        [
            {"graphemes": ["AT&T", "<b>"], "alias": "A T and T"},
            {"grapheme": "Sima", "phoneme": "ˈsiːmə", "alphabet": "ipa"},
            {"grapheme": "Ng", "phoneme": "'IN", "alphabet": "x-espeak"},
        ]
    )
    xml = lexicon.to_pls()
    assert xml.startswith(b"<?xml") and b"AT&amp;T" in xml and b"&lt;b&gt;" in xml
    assert Lexicon.from_pls(xml) == lexicon
    assert Lexicon.from_pls(Lexicon().to_pls()) == Lexicon()


def test_the_lexicon_alphabet_is_the_default_and_a_phoneme_may_override_it() -> None:
    xml = document(
        "<lexeme><grapheme>Ng</grapheme><phoneme>'IN</phoneme></lexeme>"
        '<lexeme><grapheme>Sima</grapheme><phoneme alphabet="ipa">ˈsiːmə</phoneme></lexeme>',
        alphabet="x-espeak",
    )
    assert [e.alphabet for e in Lexicon.from_pls(xml).entries] == ["x-espeak", "ipa"]


def test_the_preferred_pronunciation_is_used_else_the_first() -> None:
    xml = document(
        "<lexeme><grapheme>a</grapheme><alias>first</alias><alias>second</alias></lexeme>"
        '<lexeme><grapheme>b</grapheme><alias>first</alias><phoneme prefer="true">biː</phoneme>'
        "</lexeme>"
    )
    entries = Lexicon.from_pls(xml).entries
    assert entries[0].alias == "first"
    assert (entries[1].alias, entries[1].phoneme) == (None, "biː")


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (b"<lexicon", "not well-formed XML"),
        (b"\xff\xfe<", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lexicon [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b"<lexicon/>",
            "declares a DTD or entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lexicon SYSTEM "file:///etc/passwd"><lexicon/>',
            "declares a DTD or entities",
        ),
    ],
)
def test_malformed_and_dangerous_documents(xml: bytes, problem: str) -> None:
    with pytest.raises(MalformedDocument, match=problem) as caught:
        Lexicon.from_pls(xml)
    assert caught.value.code == "malformed_pls"


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (b'<lexicon version="1.0"/>', "root element must be <lexicon"),
        (
            b'<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"/>',
            'version="1.0"',
        ),
        (document("<lexeme><grapheme>a</grapheme><b>x</b></lexeme>"), "unexpected element <b>"),
        (document("<word/>"), "unexpected element <word>"),
        (
            document("<lexeme><grapheme>ab</grapheme><phoneme>ʘ</phoneme></lexeme>"),
            "entry 1 ('ab'): IPA symbol 'ʘ'",
        ),
        (
            document("<lexeme><grapheme>ab</grapheme><phoneme>x</phoneme></lexeme>", "x-sampa"),
            "alphabet 'x-sampa' is not one of ipa, x-espeak",
        ),
        (document("<lexeme><grapheme></grapheme><alias>x</alias></lexeme>"), "grapheme is empty"),
        (document("<lexeme><grapheme>ab</grapheme></lexeme>"), "needs an alias or a phoneme"),
    ],
)
def test_invalid_documents_name_the_problem(xml: bytes, problem: str) -> None:
    with pytest.raises(LexiconError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Lexicon.from_pls(xml)
