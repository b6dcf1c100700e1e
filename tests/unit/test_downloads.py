"""The names a downloaded audio file is saved under (``Content-Disposition``)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from listen_service.downloads import content_disposition, safe_title, slug

KEY = "0123456789ab" + "f" * 52


def _names(header: str) -> tuple[str, str]:
    """The plain and the UTF-8 name of an attachment header."""
    kind, plain, extended = (part.strip() for part in header.split(";"))
    assert kind == "attachment"
    assert plain.startswith('filename="') and plain.endswith('"')
    assert extended.startswith("filename*=UTF-8''")
    return plain[len('filename="') : -1], unquote(extended[len("filename*=UTF-8''") :])


def test_the_title_names_the_file_and_an_ascii_slug_stands_in_for_old_clients() -> None:
    plain, utf8 = _names(content_disposition("Ferries at dusk — Victoria Harbour", KEY, "mp3"))
    assert utf8 == "Ferries at dusk — Victoria Harbour.mp3"
    assert plain == "ferries-at-dusk-victoria-harbour.mp3"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ('a/b\\c: "d"?*<e>|', "a b c d e"),
        ("../../etc/passwd", "etc passwd"),
        ("Tabs\tand\nnew lines\r\n", "Tabs and new lines"),
        ("soft\u00adhy\u200bphen", "softhyphen"),
        ("  . dots and spaces . ", "dots and spaces"),
        ("Cafe\u0301", "Caf\u00e9"),  # composed, as file systems expect
    ],
)
def test_what_file_systems_refuse_is_taken_out(title: str, expected: str) -> None:
    assert safe_title(title, KEY) == expected


@pytest.mark.parametrize("title", [None, "", " . ", "///", "\u200b"])
def test_no_usable_title_falls_back_to_the_id(title: str | None) -> None:
    assert _names(content_disposition(title, KEY, "ogg")) == (
        "listen-0123456789ab.ogg",
        "listen-0123456789ab.ogg",
    )


def test_a_title_without_latin_letters_keeps_its_name_and_gets_the_id_as_slug() -> None:
    plain, utf8 = _names(content_disposition("港口的渡輪", KEY, "mp3"))
    assert (plain, utf8) == ("listen-0123456789ab.mp3", "港口的渡輪.mp3")
    assert slug("Ünïcödé wörds", KEY) == "unicode-words"


def test_long_titles_are_cut_to_fit_a_file_system() -> None:
    name = safe_title("港" * 300, KEY)
    assert len(name.encode()) <= 200 and name == "港" * len(name)
    assert len(slug("word " * 100, KEY)) <= 80
    assert not slug("word " * 100, KEY).endswith("-")


def test_the_header_is_plain_ascii_with_no_quote_or_separator_to_break_it() -> None:
    header = content_disposition('A "quoted" title; with, = signs', KEY, "wav")
    header.encode("ascii")
    plain, utf8 = _names(header)
    assert utf8 == "A quoted title; with, = signs.wav"
    assert plain == "a-quoted-title-with-signs.wav"
