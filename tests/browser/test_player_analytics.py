"""Listening analytics from the player in real Chromium, on a page of another origin: a
play, each milestone once, a speed change and a download reach the site's figures; a
page with data-analytics="off", or a site that switched analytics off, sends nothing; no
event carries a cookie or the page's address."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.browser.conftest import AUDIO, Live, Site, Tab, serve_live
from tests.browser.test_player import MAIN

NEWS_KEY, QUIET_KEY = "news-public-key-0001", "quiet-public-key-0002"
SECRET = "news-secret-key-of-the-tests-0001"
PAGE = """<!doctype html><html lang="en"><head><title>Harbour news</title>
<script src="{server}/player.js" defer></script></head><body><article>
<listen-button data-for="#story" data-key="{key}" data-title="{title}"{more}></listen-button>
<div id="story"><p>{text}</p></div></article></body></html>"""


@dataclass
class Counted:
    """The analytics service, and what reached its events route besides the bodies."""

    live: Live
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.inner = self.live.app.wsgi_app
        self.live.app.wsgi_app = self.recording  # type: ignore[method-assign]

    def recording(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/api/v1/events":
            with self.lock:
                self.seen.append({k: environ.get(k) for k in ("HTTP_COOKIE", "HTTP_REFERER")})
        return self.inner(environ, start_response)

    @property
    def url(self) -> str:
        return self.live.url

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.seen)

    def stats(self) -> dict[str, Any]:
        return self.live.get_json("/api/v1/sites/news/stats", {"Authorization": f"Bearer {SECRET}"})


@pytest.fixture(scope="module")
def counted(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counted]:
    """A service with two sites, ``quiet`` having switched analytics off."""
    settings = {
        "LISTEN_SITE_KEYS": f"news:{NEWS_KEY},quiet:{QUIET_KEY}",
        "LISTEN_SITE_ADMIN_TOKENS": f"news:{SECRET}",
        "LISTEN_ANALYTICS_OFF_SITES": "quiet",
    }
    for live in serve_live(site, tmp_path_factory.mktemp("analytics-data"), **settings):
        yield Counted(live)


def open_article(
    counted: Counted, site: Site, tab: Tab, key: str = NEWS_KEY, more: str = ""
) -> str:
    """A page of the publisher's with the player, pressed; the path of the page."""
    n = time.time_ns()
    path = f"/analytics-{n}.html"
    text = f"The ferries cross the harbour at dusk ({n}). Their lights come on one by one."
    site.pages[path] = PAGE.format(
        server=counted.url, key=key, title=f"Ferries {n}", more=more, text=text
    )
    # A cookie of the service's (same site, another port): events must not carry it.
    tab.page.context.add_cookies([{"name": "tracker", "value": "reader-7731", "url": counted.url}])
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    return path


def play_to_the_end(tab: Tab) -> None:
    tab.page.wait_for_function(f"() => {AUDIO}.ended", timeout=120_000)


def test_a_play_to_the_end_with_a_speed_change_and_a_download_is_counted(
    counted: Counted, site: Site, tab: Tab
) -> None:
    page = tab.page
    open_article(counted, site, tab)
    page.locator("listen-button button.rate").click()
    save = page.locator("listen-button a[aria-label='Download audio']")
    save.wait_for(state="visible", timeout=60_000)
    with page.expect_download(timeout=30_000):
        save.click()
    play_to_the_end(tab)
    job_id = tab.audio_id()
    deadline = time.monotonic() + 30
    while True:  # the last beacons may still be on their way
        article = next((a for a in counted.stats()["articles"] if a["id"] == job_id), None)
        if article and article["reached"]["100"] == 1 and article["downloads"] == 1:
            break
        assert time.monotonic() < deadline, (article, tab.console)
        time.sleep(0.2)
    assert article["plays"] == 1
    assert article["reached"] == {"25": 1, "50": 1, "75": 1, "100": 1}
    assert article["completions"] == 1 and article["completion_rate"] == 1.0
    assert article["speed_changes"] == 1 and article["downloads"] == 1
    meta = counted.live.get_json(f"/audio/{job_id}.json")
    assert article["listened_minutes"] == round(4 * round(meta["duration_s"] * 250) / 60_000, 2)
    # 1 play + 4 milestones + 1 speed + 1 download; none with a cookie or the page's address.
    events = counted.events()
    assert len(events) == 7, events
    assert all(e == {"HTTP_COOKIE": None, "HTTP_REFERER": None} for e in events), events


@pytest.mark.parametrize(
    ("key", "more"),
    [(NEWS_KEY, ' data-analytics="off"'), (QUIET_KEY, "")],
    ids=["page-switched-off", "site-switched-off"],
)
def test_a_player_with_analytics_off_sends_nothing(
    counted: Counted, site: Site, tab: Tab, key: str, more: str
) -> None:
    before = len(counted.events())
    open_article(counted, site, tab, key, more)
    tab.page.locator("listen-button button.rate").click()
    play_to_the_end(tab)
    job_id = tab.audio_id()
    # A play's first event goes as it starts; by its end, none went.
    assert [r for r in tab.requests if r.endswith("/api/v1/events")] == []
    assert len(counted.events()) == before
    assert job_id not in {a["id"] for a in counted.stats()["articles"]}
