"""Article extraction on small pages: what Listen reads, in which order."""

from __future__ import annotations

import pytest

from listen_service.ingest.extract import extract
from workers.errors import InputError

FILLER = (
    "The harbour authority said the new timetable would add two crossings a day, "
    "and that the older of the two ferries would be kept in reserve for the winter."
)
PAGE = f"""<!doctype html>
<html lang="en-GB"><head><title>Ferry returns | The Daily Harbour</title>
<meta property="og:title" content="Ferry returns to the island">
<meta name="author" content="Ada Quay"></head>
<body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article>
<h1>Ferry returns to the island</h1>
<p>The ferry to the island runs again from Monday, after three months in dry dock. {FILLER}</p>
<h2>What changes for passengers</h2>
<p>Tickets bought before the closure remain valid until the end of the year. {FILLER}</p>
<p>Cyclists may again bring their bicycles aboard free of charge. {FILLER}</p>
</article>
<footer>Copyright The Daily Harbour. All rights reserved. Privacy policy.</footer>
</body></html>"""


def test_the_title_then_headings_and_paragraphs_each_a_paragraph() -> None:
    article = extract(PAGE)
    assert article.title == "Ferry returns to the island"
    assert article.byline == "Ada Quay"
    assert article.lang == "en-GB"
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0] == "Ferry returns to the island"
    assert paragraphs[1].startswith("The ferry to the island runs again from Monday")
    assert "What changes for passengers" in paragraphs  # the heading is read
    assert paragraphs[-1].startswith("Cyclists may again")
    assert article.text.count("Ferry returns to the island") == 1  # the h1 is not read twice


def test_navigation_and_footer_are_left_out() -> None:
    text = extract(PAGE).text
    assert "Sport" not in text
    assert "All rights reserved" not in text


def test_bytes_in_another_encoding_are_decoded() -> None:
    page = PAGE.replace("<head>", '<head><meta charset="iso-8859-1">').replace(
        "free of charge", "free of charge, café"
    )
    assert "café" in extract(page.encode("iso-8859-1")).text


@pytest.mark.parametrize("html", ["", "<html><body></body></html>", "<p>", "just words"])
def test_a_page_without_an_article_is_an_input_error(html: str) -> None:
    with pytest.raises(InputError):
        extract(html)
