"""The canonical form of an article (``workers.canonical``): each rule, what it leaves
alone, that it is idempotent and changes nothing that is heard, and that player.js
drops the same invisible characters."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.canonical import canonical_line, canonical_text
from workers.errors import EmptyText
from workers.text import INVISIBLE, PreparedText, prepare

ROOT = Path(__file__).resolve().parents[2]
PLAYER = ROOT / "listen_service" / "static" / "player.js"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("One.  Two.", "One. Two."),
        ("One.\tTwo.\u00a0Three.\u2009Four.", "One. Two. Three. Four."),
        ("\n  Title\n\nBody.\n", "Title\n\nBody."),
        ("First.\r\n\r\nSecond.\r\nThird.\rFourth.", "First.\n\nSecond.\nThird.\nFourth."),
        ("A.\n \t\n\n\nB.", "A.\n\nB."),
        ("A. \n B.", "A.\nB."),
        ("A.\u2028B.\u2029C.", "A.\nB.\n\nC."),
        ("Cafe\u0301 cre\u0300me", "Caf\u00e9 cr\u00e8me"),  # NFC
        (
            "in\u00adcred\u00adible zero\u200bwidth \ufeffBOM \u202eRTL",
            "incredible zerowidth BOM RTL",
        ),
        ("word \u200b next", "word next"),  # an invisible between spaces leaves one space
        (
            "\u0915\u094d\u200d\u0937 \u0645\u06cc\u200c\u062e\u0648\u0627\u0645",
            None,
        ),  # ZWJ, ZWNJ kept
        ("", ""),
        (" \n\u200b ", ""),
    ],
)
def test_each_rule(written: str, canonical: str | None) -> None:
    assert canonical_text(written) == (written if canonical is None else canonical)


def test_a_title_is_one_line() -> None:
    assert canonical_line("  Budget\n2027:\u00a0what\u200b changes ") == "Budget 2027: what changes"
    assert canonical_line("Cafe\u0301") == "Caf\u00e9"


ALPHABET = st.sampled_from(
    [
        *"abcXYZ019.,!?;:'\"()-é ",
        *("\n", "\r", "\r\n", "\t", "\u00a0", "\u2009", "\u3000", "\u2028"),
        *("\u00ad", "\u200b", "\u200d", "\u200c", "\ufeff", "\u202e", "\u0301", "\u0300"),
        *("Dr.", "U.S.", "3.5", "e.g.", "\u3002", "\U0001f600"),
    ]
)
TEXTS = st.lists(ALPHABET, max_size=80).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_canonical_text_is_idempotent_and_keeps_what_is_heard(text: str) -> None:
    canonical = canonical_text(text)
    assert canonical_text(canonical) == canonical
    assert unicodedata.is_normalized("NFC", canonical)
    assert not re.search(f"[{INVISIBLE}]", canonical)
    assert "\r" not in canonical and canonical == canonical.strip()
    assert not re.search(r"\s{2,}", canonical.replace("\n\n", "\n"))
    # What the engine is given (sentences, paragraphs) is the same either way.
    try:
        written = prepare(text)
    except EmptyText:
        with pytest.raises(EmptyText):
            prepare(canonical)
        return
    ours = prepare(canonical)
    assert heard(ours) == heard(written)
    assert ours.paragraphs == written.paragraphs


def heard(prepared: PreparedText) -> str:
    """What is spoken: letters, digits and symbols, in order (an invisible character may
    move where a run of silent punctuation such as "。\u200b。" splits)."""
    return "".join(c for s in prepared.sentences for c in s.text if c.isalnum() or c in "😀")


def _js_class() -> set[int]:
    """The code points of player.js's INVISIBLE class."""
    found = re.search(r"const INVISIBLE =\s*/\[(.*?)\]/u;", PLAYER.read_text())
    assert found, "player.js has no INVISIBLE class"
    body = found.group(1)
    body = re.sub(r"\\u\{([0-9a-f]+)\}", lambda m: chr(int(m.group(1), 16)), body)
    body = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), body)
    body = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), body)
    body = body.replace("\\0", "\0")
    pattern = re.compile(f"[{re.escape(body).replace(chr(92) + '-', '-')}]")
    return {cp for cp in range(0x110000) if pattern.match(chr(cp))}


def test_player_drops_the_same_invisible_characters() -> None:
    ours = re.compile(f"[{INVISIBLE}]")
    assert _js_class() == {cp for cp in range(0x110000) if ours.match(chr(cp))}
