"""Rules for any language: what a page shows but no reader says.

- Reference markers such as ``[12]`` or ``[a]`` are dropped.
- Repeated punctuation is reduced to one mark: ``"!!!"`` → ``"!"``, ``"?!?"`` → ``"?"``,
  ``"....."`` → ``"..."``.
- Emoji are skipped, not named. espeak-ng names some ("party popper"), says others as
  "emoji" plus a code or nothing at all, and a name read mid-sentence derails the listener
  more than the silence does; the page still shows them.
"""

from __future__ import annotations

import re

from workers.normalise.rules import Reading, Rule, rule

# Emoji and pictographs, with the joiners, variation selectors, skin tones and
# keycap marks that build sequences out of them.
_EMOJI = (
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U0001f1e6-\U0001f1ff]"
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\u200d\ufe0f\u20e3\U0001f3fb-\U0001f3ff]*"
)


@rule("reference marker", r"(?<=[^\s\[])(?:\[(?:\d{1,3}|[a-z]|note \d+|citation needed)\])+")
def _reference(m: re.Match[str]) -> Reading:
    return ""


@rule("repeated punctuation", r"[!?]{2,}|\.{4,}|,{2,}|;{2,}")
def _repeated(m: re.Match[str]) -> Reading:
    s = m.group()
    if s[0] in ".,;":
        return "..." if s[0] == "." else s[0]
    return "?" if "?" in s else "!"


@rule("emoji", r" ?" + _EMOJI)
def _emoji(m: re.Match[str]) -> Reading:
    return ""


RULES: tuple[Rule, ...] = (_reference, _repeated, _emoji)
