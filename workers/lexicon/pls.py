"""W3C Pronunciation Lexicon Specification (PLS) 1.0 documents, read and written.

``parse`` reads a document into entries in the JSON shape of
``Entry.from_json``; ``serialise`` writes entries back. Parsing goes through
defusedxml with DTDs forbidden, so a document with a ``<!DOCTYPE``, an
entity declaration or an external reference is refused before anything is
expanded or fetched (the "billion laughs" and XXE attacks).

What is read of a ``<lexeme>``: its ``<grapheme>``s and one pronunciation,
the first ``<alias>`` or ``<phoneme>`` marked ``prefer="true"``, else the
first of them (PLS 1.0, section 4.6: the one a synthesiser uses).
A ``<phoneme>`` without an ``alphabet`` takes the lexicon's. ``<example>``,
``<meta>`` and ``<metadata>`` are ignored; any other element is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from workers.lexicon import LexiconError, MalformedDocument

if TYPE_CHECKING:
    from workers.lexicon import Entry

NS = "http://www.w3.org/2005/01/pronunciation-lexicon"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPE = "application/pls+xml"
_IGNORED = {"example", "meta", "metadata"}


def _local(tag: str) -> tuple[str, str]:
    """``{ns}name`` → (ns, name)."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def parse(document: bytes) -> list[dict[str, Any]]:
    """The entries of a PLS document, or ``LexiconError`` saying what is wrong with it."""
    try:
        root = fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MalformedDocument(
            f"the PLS document declares a DTD or entities, which are not accepted ({exc})"
        ) from None
    except ET.ParseError as exc:
        raise MalformedDocument(f"the PLS document is not well-formed XML: {exc}") from None
    if _local(root.tag) != (NS, "lexicon"):
        raise LexiconError(f'the root element must be <lexicon xmlns="{NS}">')
    if root.get("version") != "1.0":
        raise LexiconError('the <lexicon> must have version="1.0"')
    default_alphabet = root.get("alphabet", "ipa")
    items: list[dict[str, Any]] = []
    for number, lexeme in enumerate(root, 1):
        ns, name = _local(lexeme.tag)
        if ns == NS and name in _IGNORED:
            continue
        if (ns, name) != (NS, "lexeme"):
            raise LexiconError(f"unexpected element <{name}> in <lexicon> (element {number})")
        items.append(_lexeme(lexeme, default_alphabet, len(items) + 1))
    return items


def _lexeme(lexeme: ET.Element, default_alphabet: str, number: int) -> dict[str, Any]:
    graphemes: list[str] = []
    pronunciations: list[tuple[bool, dict[str, Any]]] = []
    for child in lexeme:
        ns, name = _local(child.tag)
        text = " ".join("".join(child.itertext()).split())
        if ns == NS and name == "grapheme":
            graphemes.append(text)
        elif ns == NS and name == "alias":
            pronunciations.append((child.get("prefer") == "true", {"alias": text}))
        elif ns == NS and name == "phoneme":
            alphabet = child.get("alphabet", default_alphabet)
            said = {"phoneme": text, "alphabet": alphabet}
            pronunciations.append((child.get("prefer") == "true", said))
        elif not (ns == NS and name in _IGNORED):
            first = repr(graphemes[0]) if graphemes else "(unnamed)"
            raise LexiconError(f"entry {number} ({first}): unexpected element <{name}>")
    item: dict[str, Any] = {"graphemes": graphemes}
    if pronunciations:
        preferred = [p for prefer, p in pronunciations if prefer]
        item.update(preferred[0] if preferred else pronunciations[0][1])
    return item


def serialise(entries: Iterable[Entry], lang: str = "en") -> bytes:
    """A PLS 1.0 document of ``entries`` (UTF-8, with an XML declaration)."""
    root = ET.Element("lexicon", {"version": "1.0", "xmlns": NS, "alphabet": "ipa"})
    root.set(XML_LANG, lang)
    for entry in entries:
        lexeme = ET.SubElement(root, "lexeme")
        for grapheme in entry.graphemes:
            ET.SubElement(lexeme, "grapheme").text = grapheme
        if entry.alias is not None:
            ET.SubElement(lexeme, "alias").text = entry.alias
        else:
            phoneme = ET.SubElement(lexeme, "phoneme")
            phoneme.text = entry.phoneme
            if entry.alphabet != "ipa":
                phoneme.set("alphabet", str(entry.alphabet))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"
