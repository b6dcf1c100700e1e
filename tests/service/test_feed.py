"""A site's podcast feed, ``/feeds/<site>.xml``, read with ``feedparser`` as a podcast app
would: the channel from LISTEN_SITE_FEEDS, one item per made article newest first, with a
stable guid, an absolute enclosure of the right length and type, and its duration; in both
modes with a real worker."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask

from listen_service import create_app
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_publishers import ARTICLES, NEWS, SITES

FEEDS = {
    "news": {
        "title": "The Daily Harbour, read aloud",
        "link": "https://news.example",
        "description": "Every article of the day, spoken.",
        "language": "en-GB",
        "image": "https://news.example/podcast.png",
        "author": "The Daily Harbour",
        "category": "News",
    }
}


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app(
        {
            **service_config,
            **SITES,
            "LISTEN_SITE_FEEDS": json.dumps(FEEDS),
            "LISTEN_PUBLIC_URL": "https://listen.example",
        }
    )


def test_the_feed_holds_the_made_articles_newest_first(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    batch = [
        {"text": "The ferries cross the harbour at dusk.", "title": "Ferries at dusk"},
        {"text": "Rail strike called off after late talks.", "title": "Rail strike off"},
    ]
    posted = client.post(ARTICLES, json={"articles": batch}, headers=NEWS).get_json()["articles"]
    # A reader's press (the public key, which anyone can send) is no episode…
    pressed = client.post(
        "/api/v1/listen",
        json={"text": "Buy cheap pills now.", "title": "Spam \uffff"},
        headers={"X-Listen-Key": "news-public-key-0001"},
    ).get_json()
    # …until the site sends the same article itself; a title XML cannot hold stays harmless.
    odd = {"text": "An odd title.", "title": "Odd \ufffe\uffff title"}
    posted += client.post(ARTICLES, json={"articles": [odd]}, headers=NEWS).get_json()["articles"]
    empty = feedparser.parse(client.get("/feeds/news.xml").data)
    assert empty.bozo == 0 and empty.entries == []  # nothing made yet
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        for job in [*posted, pressed]:
            assert wait_ready(client, job["status_url"])["status"] == "ready"
    finally:
        worker.stop()
    assert [e.title for e in feedparser.parse(client.get("/feeds/news.xml").data).entries] == [
        "Odd  title",
        "Rail strike off",
        "Ferries at dusk",
    ]
    assert client.delete(f"{ARTICLES}/{posted[2]['id']}", headers=NEWS).status_code == 204
    posted = posted[:2]

    response = client.get("/feeds/news.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/rss+xml"
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0, feed.bozo_exception
    assert feed.version == "rss20"
    channel = feed.feed
    assert channel.title == FEEDS["news"]["title"]
    assert channel.link == "https://news.example"
    assert channel.language == "en-GB"
    assert channel.image.href == FEEDS["news"]["image"]
    assert channel.author == "The Daily Harbour"
    assert [e.title for e in feed.entries] == ["Rail strike off", "Ferries at dusk"]
    cache = app.extensions["listen_cache"]
    for entry, job in zip(feed.entries, posted[::-1], strict=True):
        made = cache.get(job["id"])
        assert entry.id == job["id"] and entry.guidislink is False
        [enclosure] = entry.enclosures
        assert enclosure.href == f"https://listen.example/audio/{job['id']}.mp3"
        assert (int(enclosure.length), enclosure.type) == (made.bytes, "audio/mpeg")
        assert int(entry.itunes_duration) == round(made.duration_s)
        assert entry.published_parsed is not None
        assert entry.link == f"https://listen.example/embed/{job['id']}"
    # The same feed again, a second later: the same guids, and a 304 for a podcast app
    # that has it (the feed changes with its items, not with the clock).
    time.sleep(1.1)
    again = client.get("/feeds/news.xml")
    assert again.headers["ETag"] == response.headers["ETag"]
    assert [e.id for e in feedparser.parse(again.data).entries] == [e.id for e in feed.entries]
    etag = response.headers["ETag"]
    assert client.get("/feeds/news.xml", headers={"If-None-Match": etag}).status_code == 304
    assert response.headers["Cache-Control"] == "public, max-age=300"

    # A deleted article leaves the feed; so does one whose audio was evicted.
    assert client.delete(f"{ARTICLES}/{posted[0]['id']}", headers=NEWS).status_code == 204
    cache.delete(posted[1]["id"])
    assert feedparser.parse(client.get("/feeds/news.xml").data).entries == []


def test_a_site_without_a_feed_has_none(app: Flask) -> None:
    for site in ("blog", "shop"):
        response = app.test_client().get(f"/feeds/{site}.xml")
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "no_feed")


def test_an_article_made_again_stays_one_episode_named_by_its_page(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    page = "https://news.example/2026/11/ferries"
    first = {"text": "The ferries cross the harbour at dusk.", "title": "Ferries", "link": page}
    # The same article, its text corrected later: a new id, the same page.
    fixed = {**first, "text": "The ferries cross the harbour at sunset."}
    other = {"text": "Rail strike called off.", "title": "Strike"}
    jobs = client.post(ARTICLES, json={"articles": [first, other]}, headers=NEWS).get_json()
    time.sleep(0.05)
    jobs = (
        jobs["articles"]
        + client.post(ARTICLES, json={"articles": [fixed]}, headers=NEWS).get_json()["articles"]
    )
    assert len({j["id"] for j in jobs}) == 3
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        for job in jobs:
            assert wait_ready(client, job["status_url"])["status"] == "ready"
    finally:
        worker.stop()
    entries = feedparser.parse(client.get("/feeds/news.xml").data).entries
    assert [(e.title, e.id) for e in entries] == [("Ferries", page), ("Strike", jobs[1]["id"])]
    assert entries[0].link == page
    assert entries[0].enclosures[0].href.endswith(f"/audio/{jobs[2]['id']}.mp3")  # the newest
    listed = client.get(ARTICLES, headers=NEWS).get_json()["articles"]
    assert [a.get("link") for a in listed] == [page, None, page]
    # A link that is not a web page's is refused, that article only.
    bad = {"text": "Hello.", "link": "javascript:alert(1)"}
    answer = client.post(ARTICLES, json={"articles": [bad]}, headers=NEWS).get_json()
    assert answer["articles"][0]["error"]["code"] == "invalid_field"
