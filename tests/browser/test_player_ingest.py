"""The player and the server's page extraction read the same article page alike, on a
page of another origin: a publisher that makes the audio at publish time from the
page's HTML (or URL) gets the id a reader's press asks for, headline and headings
spoken either way (docs/extraction.md)."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import Live, Site, Tab
from tests.browser.test_player import MAIN

HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title} | The Daily Harbour</title><meta property="og:title" content="{title}">
<script src="{server}/player.js" defer></script></head><body>
<nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>"""
BODY = """<p>The ferry to the island runs again from Monday, after three months in dry dock
({n}). The harbour authority added two crossings a day.</p>
<h2>Tickets</h2>
<p>Tickets bought before the closure remain valid until the end of the year,
the authority said on Friday.</p>"""
LAYOUTS = {
    # The button reads its <article>, headline included.
    "article": "<article><h1>{title}</h1><listen-button></listen-button>{body}</article>",
    # The button reads the body; the headline above it is read first.
    "data-for": (
        '<article><header><h1>{title}</h1></header><listen-button data-for="#body">'
        '</listen-button><div id="body">{body}</div></article>'
    ),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_readers_press_finds_the_audio_made_from_the_page(
    live: Live, site: Site, tab: Tab, layout: str
) -> None:
    title = "Ferry returns to the island"
    body = BODY.format(n=time.time_ns())
    html = (
        HEAD.format(title=title, server=live.url)
        + LAYOUTS[layout].format(title=title, body=body)
        + "<footer>All rights reserved.</footer></body></html>"
    )
    made = live.post({"html": html})  # at publish time, by the site
    path = f"/ingest-{layout}-{time.time_ns()}.html"
    site.pages[path] = html
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.3)
    posted = tab.posted[-1]
    assert posted["text"].startswith(f"{title}\n\nThe ferry to the island"), posted["text"]
    assert "\n\nTickets\n\n" in posted["text"]
    assert tab.audio_id() == made["id"], (posted, made)
