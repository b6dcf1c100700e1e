"""The player still gets its audio when the server is busy: waits turned away, 429s."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from listen_service import create_app
from listen_service.holds import Holds
from tests.browser.conftest import Live, Site, Tab, _serve

PAGE = """<!doctype html><title>Busy</title>
<script src="{server}/player.js" defer></script>
<listen-button data-for="#story"></listen-button>
<div id="story"><p>A story read while the server is busy. {nonce}</p></div>"""

# Long polls only: the player's fallback when a browser has no EventSource.
NO_EVENT_SOURCE = "delete window.EventSource;"

Serve = Callable[[dict[str, Any]], tuple[str, Flask]]


@pytest.fixture
def serve(site: Site) -> Iterator[Serve]:
    """Another web app (``create_app(config)``) on its own port, stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(config: dict[str, Any]) -> tuple[str, Flask]:
        app = create_app({"LISTEN_ALLOWED_ORIGINS": site.origin, **config})
        url, stop = _serve(app)
        stops.append(stop)
        return url, app

    yield start
    for stop in stops:
        stop()


def _open(tab: Tab, site: Site, server: str) -> list[tuple[str, int]]:
    """Load a page embedding the player from ``server`` and press Listen; (url, status) seen."""
    answers: list[tuple[str, int]] = []
    tab.page.on("response", lambda r: answers.append((r.url, r.status)))
    path = f"/busy-{time.time_ns()}.html"
    site.pages[path] = PAGE.format(server=server, nonce=time.time_ns())
    tab.page.goto(site.origin + path)
    tab.page.click("listen-button button.main")
    return answers


def _said(tab: Tab) -> None:
    """Record every message of the player's live region in ``window.said``."""
    tab.page.add_init_script(
        """window.said = [];
        addEventListener("DOMContentLoaded", async () => {
          await customElements.whenDefined("listen-button");
          const root = document.querySelector("listen-button").shadowRoot;
          const live = root.querySelector("[aria-live]");
          new MutationObserver(() => live.textContent && window.said.push(live.textContent))
            .observe(live, { childList: true, characterData: true, subtree: true });
        });"""
    )


def test_the_player_plays_when_every_wait_is_turned_away(live: Live, site: Site, tab: Tab) -> None:
    held = live.app.extensions["listen_holds"]
    # Over the bounds for everyone: each event stream gets one status event
    # and "retry: 5000", and the player lets EventSource reconnect after it.
    live.app.extensions["listen_holds"] = Holds(total=0, per_client=0)
    try:
        answers = _open(tab, site, live.url)
        tab.wait_time(0.3)
    finally:
        live.app.extensions["listen_holds"] = held
    asked = [u for u, _ in answers if "/api/v1/jobs/" in u]
    assert len([u for u in asked if u.endswith("/events")]) >= 2, asked
    assert not any("?wait=" in u for u in asked), asked


def test_429s_with_retry_after_end_in_playback(
    live: Live, site: Site, tab: Tab, serve: Serve
) -> None:
    # The live service's worker and data, with tiny rate limits and every
    # wait turned away: one POST per 3 s, one long poll per 2 s.
    server, _ = serve(
        {
            "LISTEN_DATA_DIR": live.app.config["LISTEN_DATA_DIR"],
            "LISTEN_STALE_SECONDS": 60,
            "LISTEN_RATE_LIMIT_POST": "1/3second",
            "LISTEN_RATE_LIMIT_STREAMS": "1/2second",
            "LISTEN_STREAMS_PER_CLIENT": 0,
        }
    )
    spend = urllib.request.Request(
        f"{server}/api/v1/listen", b"{}", {"Content-Type": "application/json"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(spend, timeout=10)
    assert refused.value.code == 422  # counted all the same
    refused.value.close()  # its response holds the socket: closed here, not by a later GC
    tab.page.add_init_script(NO_EVENT_SOURCE)
    _said(tab)
    answers = _open(tab, site, server)
    tab.wait_time(0.3)
    posts = [s for u, s in answers if u.endswith("/api/v1/listen")]
    polls = [s for u, s in answers if "?wait=" in u]
    assert posts == [429, 200] or posts == [429, 202], posts
    assert 429 in polls, polls
    said = tab.page.evaluate("window.said")
    assert "Busy, retrying\u2026" in said, said
    assert not any(s.startswith("Error") for s in said), said


def test_long_polls_turned_away_back_off(
    site: Site, tab: Tab, serve: Serve, tmp_path: Path
) -> None:
    # No worker: the job stays queued, and every long poll is turned away and
    # answered at once with nothing new.
    server, app = serve({"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_STREAMS_PER_CLIENT": 0})
    tab.page.add_init_script(NO_EVENT_SOURCE)
    answers = _open(tab, site, server)
    tab.page.wait_for_timeout(9000)
    polls = [u for u, _ in answers if "?wait=" in u]
    # At 0, 1, 3, 7 s (then every 5 s); polling every second would be 9 or 10.
    assert 3 <= len(polls) <= 5, polls
    with urllib.request.urlopen(polls[0], timeout=10) as response:  # closed, not left to GC
        job = json.loads(response.read())
    assert job["status"] == "queued", job
    assert app.extensions["listen_holds"].held() == 0
