"""The title the player sends and shows when the page sets no data-title, on another
origin: the page's headline (og:title, else the article's <h1>), else the document's
title, never with the site's name on the end ("… | The Daily Harbour")."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import SHADOW, Live, Site, Tab
from tests.browser.test_player import MAIN

HEAD = '<meta property="og:site_name" content="The Daily Harbour">'
PAGE = """<!doctype html><html lang="en"><head><title>{title}</title>{head}
<script src="{server}/player.js" defer></script></head><body>
<article>{h1}<listen-button data-for="#body"></listen-button>
<div id="body"><p>The ferries cross the harbour at dusk{n}.</p></div></article></body></html>"""


@pytest.mark.parametrize(
    ("title", "head", "h1", "expected"),
    [
        (  # og:title first, the site's name (og:site_name) cut off
            "Ferries at dusk | The Daily Harbour",
            HEAD + '<meta property="og:title" content="Ferries at dusk \u2014 The Daily Harbour">',
            "<h1>A different headline</h1>",
            "Ferries at dusk",
        ),
        (  # the article's <h1>, whatever the document's title says
            "Ferries at dusk | The Daily Harbour",
            "",
            "<h1>Ferries  at\ndusk, tonight</h1>",
            "Ferries at dusk, tonight",
        ),
        (  # the document's title without its site part
            "Ferries at dusk on the harbour | The Daily Harbour",
            "",
            "",
            "Ferries at dusk on the harbour",
        ),
        (  # a title that is all headline keeps its dashes
            "Covid-19 \u2014 what the harbour workers say",
            "",
            "",
            "Covid-19 \u2014 what the harbour workers say",
        ),
    ],
)
def test_the_title_is_the_pages_headline(
    live: Live, site: Site, tab: Tab, title: str, head: str, h1: str, expected: str
) -> None:
    path = f"/title-{time.time_ns()}.html"
    site.pages[path] = PAGE.format(
        title=title, head=head, h1=h1, server=live.url, n=f" ({time.time_ns()})"
    )
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert tab.posted[-1]["title"] == expected
    shown = tab.page.evaluate(f"{SHADOW}.querySelector('.title').textContent")
    assert shown == expected
