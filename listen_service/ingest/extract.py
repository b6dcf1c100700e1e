"""An article out of an HTML page, with trafilatura (chosen in docs/extraction.md).

``extract(html)`` gives the title, byline, language and body blocks (headings,
paragraphs, list items, quotes); ``Article.text`` is what Listen reads: the
title as the first paragraph, then every block as a paragraph of its own,
separated by blank lines, so the headline and the headings are spoken too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import trafilatura
from lxml import html as lxml_html
from trafilatura.settings import Document

from workers.errors import InputError

# Elements of trafilatura's output tree whose children are blocks of their own.
_CONTAINERS = {"list", "div", "table", "row"}
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    byline: str
    lang: str
    blocks: tuple[str, ...]

    @property
    def text(self) -> str:
        """Title, then the blocks, one paragraph each (blank lines between)."""
        return "\n\n".join(([self.title] if self.title else []) + list(self.blocks))


def extract(html: str | bytes) -> Article:
    """The article in ``html``; ``InputError`` when no article text can be found."""
    document = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False
    )
    if not isinstance(document, Document) or document.body is None:
        raise InputError("no article text found in the page")
    title = _clean(document.title or "")
    blocks = [b for b in _blocks(document.body) if b]
    # Many pages repeat their headline as the article's first heading.
    if blocks and title and blocks[0].casefold() == title.casefold():
        blocks.pop(0)
    if not blocks:
        raise InputError("no article text found in the page")
    return Article(title, _clean(document.author or ""), _page_lang(html), tuple(blocks))


def _blocks(element: object) -> list[str]:
    found: list[str] = []
    for child in element:  # type: ignore[attr-defined]
        if child.tag in _CONTAINERS and len(child):
            found.extend(_blocks(child))
        else:
            found.append(_clean("".join(child.itertext())))
    return found


def _clean(text: str) -> str:
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def _page_lang(html: str | bytes) -> str:
    """The page's declared language (``<html lang>``, else Content-Language), or ``""``."""
    try:
        root = lxml_html.document_fromstring(html)
    except (ValueError, TypeError, lxml_html.etree.ParserError):
        return ""
    candidates: list[str] = [
        root.get("lang", ""),
        root.get("{http://www.w3.org/XML/1998/namespace}lang", ""),
    ]
    for meta in root.iter("meta"):
        if (meta.get("http-equiv") or "").lower() == "content-language":
            candidates.append(meta.get("content") or "")
    for candidate in candidates:
        candidate = candidate.strip().split(",")[0].strip()
        if _LANG.match(candidate):
            return candidate
    return ""
