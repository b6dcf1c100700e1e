"""On a page of another origin: the article's headline is read first when the page
shows it outside the text the button reads (and never a site's logo), and the
article's headings are chapter marks on the seek bar that play from their heading."""

from __future__ import annotations

import time

from tests.browser.conftest import AUDIO, SHADOW, Live, Site, Tab
from tests.browser.test_player import HIGHLIGHT, MAIN, _sentence_at

PAGE = """<!doctype html><html lang="en"><head><title>Harbour | The Daily Harbour</title>
<script src="{server}/player.js" defer></script></head><body>
<header><a href="/"><h1>The Daily Harbour</h1></a></header>
<article><header><h1>Ferries at   dusk</h1><p class="byline">By A. Writer</p></header>
<listen-button data-for="#body"{attrs}></listen-button>
<div id="body">
<p>The ferries cross the harbour at dusk. Their lights come on one by one ({n}).</p>
<h2>The last crossing</h2>
<p>The last boat leaves at half past eleven. A handful of passengers stay on deck.</p>
<p>Some have made this crossing every night for years.</p>
<h2>Morning again</h2>
<p>At six the first ferry sounds its horn. The city wakes to it.</p>
</div></article></body></html>"""

CHAPTERS = f"[...{SHADOW}.querySelectorAll('.chap button')]"


def _open(live: Live, site: Site, tab: Tab, attrs: str = "") -> None:
    path = f"/chapters-{time.time_ns()}.html"
    site.pages[path] = PAGE.format(server=live.url, attrs=attrs, n=time.time_ns())
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.3)


def test_the_headline_is_read_first_and_highlighted(live: Live, site: Site, tab: Tab) -> None:
    _open(live, site, tab)
    posted = tab.posted[-1]["text"]
    # The article's headline, whitespace collapsed; not the logo, not the byline.
    assert posted.startswith("Ferries at dusk\n\nThe ferries cross the harbour at dusk."), posted
    assert "Daily Harbour" not in posted and "A. Writer" not in posted
    page = tab.page
    page.evaluate(f"{AUDIO}.pause(); {AUDIO}.currentTime = 0.05")
    # The page's own text node is highlighted (its spaces as written).
    page.wait_for_function(f"() => ({HIGHLIGHT} || '').replace(/\\s+/g, ' ') === 'Ferries at dusk'")


def test_data_headline_off_reads_the_text_alone(live: Live, site: Site, tab: Tab) -> None:
    _open(live, site, tab, ' data-headline="off"')
    assert tab.posted[-1]["text"].startswith("The ferries cross the harbour at dusk.")


def test_headings_are_chapters_on_the_seek_bar(live: Live, site: Site, tab: Tab) -> None:
    _open(live, site, tab)
    page = tab.page
    page.wait_for_function(f"() => {CHAPTERS}.length === 2")
    labels = page.evaluate(f"{CHAPTERS}.map((b) => b.getAttribute('aria-label'))")
    assert labels[0].startswith("Chapter: The last crossing, at ")
    assert labels[1].startswith("Chapter: Morning again, at ")
    meta = live.meta(tab.audio_id())
    posted = tab.posted[-1]["text"]
    starts = {
        posted[t["char_start"] : t["char_end"]].strip(): t["start_ms"] / 1000
        for t in meta["timings"]
    }
    # Each mark sits where its heading starts, along the bar's length.
    lefts = page.evaluate(f"{CHAPTERS}.map((b) => parseFloat(b.style.left))")
    for left, heading in zip(lefts, ("The last crossing", "Morning again"), strict=True):
        assert abs(left - 100 * starts[heading] / meta["duration_s"]) < 0.01
    page.evaluate(f"{AUDIO}.pause()")
    page.evaluate(f"{CHAPTERS}[1].click()")
    page.wait_for_function(f"() => {HIGHLIGHT} === 'Morning again'")
    at = page.evaluate(f"{AUDIO}.currentTime")
    assert _sentence_at(meta, at)["start_ms"] / 1000 == starts["Morning again"]
    assert not page.evaluate(f"{AUDIO}.paused")


def test_no_chapters_without_headings(live: Live, site: Site, tab: Tab) -> None:
    path = f"/flat-{time.time_ns()}.html"
    site.pages[path] = (
        f'<!doctype html><script src="{live.url}/player.js" defer></script>'
        '<listen-button data-for="#b"></listen-button>'
        f"<div id=b><p>Just one paragraph here ({time.time_ns()}).</p></div>"
    )
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.3)
    assert tab.page.evaluate(f"{CHAPTERS}.length") == 0
    # No headline on this page: the text alone.
    assert tab.posted[-1]["text"].startswith("Just one paragraph")
