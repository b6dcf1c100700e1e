"""The player posts its page's text in canonical form (workers/canonical.py), on another
origin, so the timings' offsets still point into the page: soft hyphens, zero-width
spaces, a BOM, decomposed accents and no-break spaces in the article change nothing
but the id it shares with a plain copy."""

from __future__ import annotations

import re

from tests.browser.conftest import AUDIO, Live, Site, Tab
from tests.browser.test_player import HIGHLIGHT, MAIN, _sentence_at
from workers.canonical import canonical_text

PAGE = """<!doctype html><html lang="en"><title>Canonical</title>
<script src="{server}/player.js" defer></script>
<listen-button data-for="#story" data-title="Cafe\u0301 society"></listen-button>
<div id="story">
<p>The cafe\u0301 on the corner re\u00adopened on Monday.\u00a0Its owner,
Zoe\u0308, was de\u00adlighted.</p>
<p>\ufeffA zero\u200bwidth space hides in this sentence. \U000e0020Tags too.</p>
<p>Decomposed accents compose: na\u0131\u0308ve re\u0301sume\u0301s pile up. The end.</p>
</div></html>"""


def test_the_posted_text_is_canonical_and_highlights_still_land(
    live: Live, site: Site, tab: Tab
) -> None:
    site.pages["/canonical.html"] = PAGE.format(server=live.url)
    page = tab.page
    page.goto(site.origin + "/canonical.html")
    page.click(MAIN)
    tab.wait_time(0.3)
    posted = tab.posted[0]["text"]
    assert posted == canonical_text(posted)
    assert "caf\u00e9" in posted and "reopened" in posted and "zerowidth" in posted
    # The article as written, invisible characters and all, is the same audio.
    written = "\n\n".join(p.replace("\n", " ") for p in re.findall(r"<p>(.*?)</p>", PAGE, re.S))
    assert written != posted
    plain = live.post({**tab.posted[0], "text": written, "title": "Caf\u00e9 society"})
    assert plain["id"] == tab.audio_id()

    meta = live.meta(tab.audio_id())
    for timing in meta["timings"][2:5]:  # after the composed and removed characters
        page.evaluate(f"{AUDIO}.pause()")
        page.evaluate(f"{AUDIO}.currentTime = {timing['start_ms'] / 1000 + 0.05}")
        page.wait_for_function(
            f"() => {HIGHLIGHT} !== null && {AUDIO}.currentTime >= {timing['start_ms'] / 1000}"
        )
        page.wait_for_timeout(100)
        shown = _sentence_at(meta, page.evaluate(f"{AUDIO}.currentTime"))
        highlighted = canonical_text(page.evaluate(HIGHLIGHT) or "")
        said = posted[shown["char_start"] : shown["char_end"]]
        # A highlight ends on the last mapped unit: a trailing mark may be cut.
        assert highlighted == said or said.startswith(highlighted[:-1]), (highlighted, said)
