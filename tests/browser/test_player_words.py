"""Word highlighting on a page of another origin: inside the highlighted sentence the
word being said has a highlight of its own, from the timings' words; clicking a word
plays from it. With espeak-ng (its word events) and the Piper test voice (its
phoneme alignments)."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import AUDIO, Live, Site, Tab
from tests.browser.test_player import MAIN

WORD = (
    "(() => { const h = CSS.highlights.get('listen-word');"
    " return h ? [...h][0].toString() : null; })()"
)
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Words</title>
<script src="{server}/player.js" defer></script></head><body>
<listen-button data-for="#story"{voice}></listen-button>
<div id="story"><p>The ferries cross the harbour at dusk ({n}). Their lights come on one by one.</p>
<p>Tickets cost $25, about 3.5% more than last year, the operator said on Monday.</p></div>
</body></html>"""


@pytest.mark.parametrize("voice", ["", "piper:en_US-joe-medium"], ids=["espeak-ng", "piper"])
def test_the_word_said_is_highlighted_and_a_click_plays_from_a_word(
    live: Live, site: Site, tab: Tab, voice: str
) -> None:
    path = f"/words-{time.time_ns()}.html"
    named = f' data-voice="{voice}"' if voice else ""
    site.pages[path] = PAGE.format(server=live.url, n=time.time_ns(), voice=named)
    page = tab.page
    page.goto(site.origin + path)
    page.click(MAIN)
    tab.wait_time(0.3)
    meta = live.meta(tab.audio_id())
    assert tab.posted[-1].get("voice", "") == voice and (meta["voice"] == voice or not voice)
    posted = tab.posted[-1]["text"]
    words = [w for s in meta["timings"] for w in s["words"]]
    assert [posted[w["char_start"] : w["char_end"]] for w in words[:4]] == [
        "The",
        "ferries",
        "cross",
        "the",
    ]
    # Paused inside a word: that word is the word highlight, inside the sentence's.
    page.evaluate(f"{AUDIO}.pause()")
    for w in (words[1], words[-3]):
        middle = (w["start_ms"] + w["end_ms"]) / 2000
        page.evaluate(f"{AUDIO}.currentTime = {middle}")
        said = posted[w["char_start"] : w["char_end"]]
        page.wait_for_function(f"() => {WORD} === {said!r}")
    # A click on "$25" (one word, said "twenty-five dollars") plays from it.
    money = next(w for w in words if posted[w["char_start"] : w["char_end"]] == "$25")
    box = page.evaluate(
        """() => {
        const text = document.querySelectorAll('#story p')[1].firstChild;
        const r = document.createRange();
        const at = text.data.indexOf('$25');
        r.setStart(text, at + 1); r.setEnd(text, at + 2);
        const b = r.getBoundingClientRect();
        return [b.x + b.width / 2, b.y + b.height / 2];
    }"""
    )
    page.mouse.click(*box)
    page.wait_for_function(f"() => {WORD} === '$25'")
    assert not page.evaluate(f"{AUDIO}.paused")
    at = page.evaluate(f"{AUDIO}.currentTime")
    assert money["start_ms"] / 1000 <= at < money["end_ms"] / 1000 + 1.0
