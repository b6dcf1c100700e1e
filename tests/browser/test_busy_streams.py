"""The player still gets its audio when the server turns every stream and long poll away."""

from __future__ import annotations

import time

from listen_service.holds import Holds
from tests.browser.conftest import Live, Site, Tab

PAGE = """<!doctype html><title>Busy</title>
<script src="{server}/player.js" defer></script>
<listen-button data-for="#story"></listen-button>
<div id="story"><p>A story read while the server is busy. {nonce}</p></div>"""


def test_the_player_plays_when_every_wait_is_turned_away(live: Live, site: Site, tab: Tab) -> None:
    held = live.app.extensions["listen_holds"]
    # Over the bounds for everyone: each event stream gets one status event
    # and "retry:", each long poll returns at once.
    live.app.extensions["listen_holds"] = Holds(total=0, per_client=0)
    try:
        site.pages["/busy.html"] = PAGE.format(server=live.url, nonce=time.time_ns())
        tab.page.goto(site.origin + "/busy.html")
        tab.page.click("listen-button button.main")
        tab.wait_time(0.3)
    finally:
        live.app.extensions["listen_holds"] = held
    asked = [u for u in tab.requests if "/api/v1/jobs/" in u]
    assert any(u.endswith("/events") for u in asked), asked
    assert any("?wait=" in u for u in asked), asked
