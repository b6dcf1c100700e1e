"""The canonical form of an article: what its cache key, its audio and its timings are made from.

Copies of one article that differ only in ways nobody hears get one id, so
audio made at publish time is found when a reader presses Listen. Applied by
the web to ``text`` and ``title`` before a job is planned (``jobflow``);
``player.js`` builds the text it posts in the same form, so the timings'
character offsets index the page's own text. The rules, in order:

1. Invisible characters go: format characters (Unicode category Cf: zero-width
   space, soft hyphen, BOM, bidirectional controls, word joiner…) except ZWJ
   and ZWNJ, which shape some scripts (the ``text.INVISIBLE`` class; control
   characters other than tab and line breaks are refused by ``validation``).
2. Unicode NFC: composed and decomposed accents are one text.
3. Line endings: CR LF, CR and U+2028 become LF; U+2029 (paragraph separator)
   a blank line.
4. Whitespace runs (``str.isspace``: spaces, tabs, no-break and other Unicode
   spaces, line feeds) become one character: a blank line (``\\n\\n``) if the
   run holds two line feeds or more, a line feed if it holds one, else one
   space.
5. Leading and trailing whitespace goes.

A title is one line: every whitespace run in it becomes one space.
"""

from __future__ import annotations

import re
import unicodedata

from workers.text import INVISIBLE_RE

_BREAKS = re.compile("\r\n|[\r\u2028]")
_SPACE = re.compile(r"\s+")


def _one(run: re.Match[str]) -> str:
    feeds = run.group().count("\n")
    return "\n\n" if feeds >= 2 else "\n" if feeds else " "


def _visible(text: str) -> str:
    """Rules 1 and 2: invisible characters removed, then NFC."""
    return unicodedata.normalize("NFC", INVISIBLE_RE.sub("", text))


def canonical_text(text: str) -> str:
    """``text`` in canonical form (the rules above); idempotent."""
    lines = _BREAKS.sub("\n", _visible(text)).replace("\u2029", "\n\n")
    return _SPACE.sub(_one, lines).strip()


def canonical_line(line: str) -> str:
    """A title or other one-line field in canonical form: one line, single spaces."""
    return _SPACE.sub(" ", _visible(line)).strip()
