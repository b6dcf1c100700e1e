"""How long a site's podcast feed of 1,000 articles takes to render (target: 200 ms).

Fills a fresh data directory with ``--articles`` articles of one site, each
with a small committed cache entry, loads the feed once (which keeps each
audio's facts in the site's index, as a first podcast-app poll would), then
times ``GET /feeds/news.xml`` ``--runs`` times. The reference in the same run
is ``feedgen`` alone turning the same articles into the same XML, without
reading anything: the ratio is what reading the index and checking the cache
adds.

Run from the repository root::

    python -m benchmarks.feed [--articles 1000] [--runs 10]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path

from benchmarks._common import machine_info, median, utc_now
from listen_service import create_app
from listen_service.publishers.feed import render

FEEDS = {"news": {"title": "News, read aloud", "link": "https://news.example"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(data),
            "LISTEN_SITE_KEYS": "news:news-public-key-0001",
            "LISTEN_SITE_FEEDS": json.dumps(FEEDS),
            "LISTEN_PUBLIC_URL": "https://listen.example",
        }
    )
    cache = app.extensions["listen_cache"]
    index = app.extensions["listen_site_index"]
    now = time.time()
    for n in range(args.articles):
        job_id = secrets.token_hex(32)
        audio = data / f"{job_id}.mp3"
        audio.write_bytes(b"\xff\xfb" + secrets.token_bytes(2000))
        cache.put(job_id, audio, fmt="mp3", duration_s=120.0 + n, title=f"Article {n}")
        # Sent by the site with its secret key (only those are episodes), each with
        # its page, as a CMS sends them.
        page = f"https://news.example/articles/{n}"
        index.add("news", job_id, f"Article {n}", via="publisher", now=now - n * 60, link=page)
    client = app.test_client()
    first = client.get("/feeds/news.xml")
    assert first.status_code == 200 and first.data.count(b"<item>") == args.articles
    timed = []
    for _ in range(args.runs):
        started = time.perf_counter()
        response = client.get("/feeds/news.xml")
        timed.append(time.perf_counter() - started)
        assert response.status_code == 200
    with app.test_request_context():
        articles = index.articles("news")
        reference = []
        for _ in range(args.runs):
            started = time.perf_counter()
            render("news", FEEDS["news"], articles, "https://listen.example")
            reference.append(time.perf_counter() - started)
    result = {
        "date": utc_now(),
        "machine": machine_info(),
        "articles": args.articles,
        "feed_median_s": round(median(timed), 4),
        "feedgen_only_median_s": round(median(reference), 4),
        "ratio": round(median(timed) / median(reference), 2),
        "bytes": len(first.data),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
