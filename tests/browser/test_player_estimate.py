"""The length the Listen button promises before any audio exists, on another origin: the
calibrated estimate (workers/text.py estimate_seconds), not words at 175 per minute, which
promised 6 minutes for this article's 14."""

from __future__ import annotations

import html
import re

from tests.browser.conftest import SHADOW, Live, Site, Tab
from tests.conftest import FIXTURES
from workers.text import estimate_seconds

LABEL = f"{SHADOW}.querySelector('button.main').textContent"


def test_the_button_promises_what_the_engine_makes(live: Live, site: Site, tab: Tab) -> None:
    lines = (FIXTURES / "speech" / "en-more.tsv").read_text().splitlines()
    paragraphs = [line.split("~")[0] for line in lines if line and not line.startswith("#")] * 3
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    site.pages["/numbers.html"] = f"""<!doctype html><title>Numbers</title>
<script src="{live.url}/player.js" defer></script>
<listen-button data-for="#story"></listen-button><div id="story">{body}</div>"""
    tab.page.goto(site.origin + "/numbers.html")
    tab.page.wait_for_function(f"() => {LABEL}.includes('min')")
    promised = int(re.findall(r"(\d+) min", tab.page.evaluate(LABEL))[0])
    expected = estimate_seconds("\n\n".join(paragraphs)) / 60
    assert abs(promised - expected) <= 0.6, (promised, expected)
    words = sum(len(p.split()) for p in paragraphs)
    assert expected - words / 175 > 3, "words alone would promise minutes less"
