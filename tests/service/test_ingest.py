"""Posting a page instead of text: ``{"html"}`` and ``{"url"}`` (the SSRF guard's
answers through the API), in both modes; with a real worker, the page's audio is
made and its title is spoken first."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from listen_service import create_app
from listen_service.ingest.extract import extract
from tests.service.conftest import Worker
from tests.service.test_flow import wait_ready

TITLE = "Ferry returns to the island"
PAGE = f"""<!doctype html>
<html lang="en"><head><title>{TITLE} | The Daily Harbour</title>
<meta property="og:title" content="{TITLE}"></head>
<body><nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>
<article><h1>{TITLE}</h1>
<p>The ferry to the island runs again from Monday, after three months in dry dock.
The harbour authority added two crossings a day.</p>
<h2>Tickets</h2>
<p>Tickets bought before the closure remain valid until the end of the year,
the authority said on Friday.</p></article>
<footer>All rights reserved.</footer></body></html>"""


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(3)
        body = PAGE.encode() * (2000 if self.path == "/huge" else 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """A publisher's site on this machine (loopback, so only fetched when allowed)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def trusting_app(service_config: dict[str, Any]) -> Flask:
    return create_app(
        {
            **service_config,
            "LISTEN_FETCH_ALLOW_PRIVATE": True,
            "LISTEN_FETCH_TIMEOUT_SECONDS": 1.0,
            "LISTEN_FETCH_MAX_BYTES": 100_000,
        }
    )


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_posted_html_is_read_with_its_title_first(app: Flask, worker: Worker) -> None:
    client = app.test_client()
    posted = client.post("/api/v1/listen", json={"html": PAGE})
    assert posted.status_code == 202, posted.get_json()
    done = wait_ready(client, posted.get_json()["status_url"])
    assert done["status"] == "ready", done
    timings = client.get(done["timings_url"]).get_json()
    assert timings["title"] == TITLE
    first, second = timings["timings"][:2]
    # The title is the first paragraph, spoken on its own from the start.
    assert (first["paragraph"], first["char_start"], first["char_end"]) == (0, 0, len(TITLE))
    assert first["start_ms"] == 0 and first["end_ms"] > 500
    assert second["paragraph"] == 1
    assert any(t["char_end"] - t["char_start"] == len("Tickets") for t in timings["timings"])


def test_one_article_has_one_id_however_it_is_sent(trusting_app: Flask, site: str) -> None:
    client = trusting_app.test_client()
    article = extract(PAGE)
    # What the player sends for the same page: its text, title and language.
    as_text = client.post(
        "/api/v1/listen", json={"text": article.text, "title": article.title, "lang": article.lang}
    )
    as_html = client.post("/api/v1/listen", json={"html": PAGE})
    as_url = client.post("/api/v1/listen", json={"url": f"{site}/article"})
    assert as_text.status_code == as_html.status_code == as_url.status_code == 202
    ids = {r.get_json()["id"] for r in (as_text, as_html, as_url)}
    assert len(ids) == 1
    # The request's own title is the one read first, as with text.
    retitled = client.post("/api/v1/listen", json={"html": PAGE, "title": "Island ferry"})
    as_retitled_text = client.post(
        "/api/v1/listen",
        json={
            "text": article.text.replace(TITLE, "Island ferry", 1),
            "title": "Island ferry",
            "lang": article.lang,
        },
    )
    assert retitled.get_json()["id"] == as_retitled_text.get_json()["id"]
    assert retitled.get_json()["id"] not in ids


def test_loopback_urls_are_refused_by_default(app: Flask, site: str) -> None:
    response = app.test_client().post("/api/v1/listen", json={"url": f"{site}/article"})
    assert _error(response) == (422, "url_not_allowed")
    assert "127.0.0.1" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/slow", (422, "fetch_timeout")), ("/huge", (413, "page_too_large"))],
)
def test_slow_and_huge_pages_are_refused(
    trusting_app: Flask, site: str, path: str, expected: tuple[int, str]
) -> None:
    started = time.monotonic()
    response = trusting_app.test_client().post("/api/v1/listen", json={"url": f"{site}{path}"})
    assert _error(response) == expected
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("body", "expected", "message"),
    [
        ({"title": "No article"}, (422, "invalid_field"), "text is required"),
        ({"text": "Hi.", "html": PAGE}, (422, "invalid_field"), "exactly one of"),
        ({"html": PAGE, "url": "http://example.com/"}, (422, "invalid_field"), "exactly one of"),
        ({"url": 42}, (422, "invalid_field"), "url must be of type str"),
        ({"html": "<p>"}, (422, "no_article"), "no article"),
        ({"url": "file:///etc/passwd"}, (422, "url_not_allowed"), "http and https"),
        ({"url": "http://169.254.169.254/latest/"}, (422, "url_not_allowed"), "169.254.169.254"),
        ({"url": "http://x/\u0000"}, (422, "invalid_field"), "control character"),
    ],
)
def test_bad_page_requests_get_clear_errors(
    app: Flask, body: dict[str, Any], expected: tuple[int, str], message: str
) -> None:
    response = app.test_client().post("/api/v1/listen", json=body)
    assert _error(response) == expected
    assert message in response.get_json()["error"]["message"]


def test_fetches_at_once_are_bounded(trusting_app: Flask, site: str) -> None:
    from listen_service.pages import FETCHES_PER_PROCESS

    answers: list[tuple[int, str]] = []

    def post() -> None:
        client = trusting_app.test_client()
        answers.append(_error(client.post("/api/v1/listen", json={"url": f"{site}/slow"})))

    threads = [threading.Thread(target=post) for _ in range(FETCHES_PER_PROCESS)]
    for thread in threads:
        thread.start()
    time.sleep(0.4)  # all of them fetching, each for up to its 1 s timeout
    extra = trusting_app.test_client().post("/api/v1/listen", json={"url": f"{site}/slow"})
    for thread in threads:
        thread.join(10)
    assert _error(extra) == (503, "busy_fetching") and extra.headers["Retry-After"] == "5"
    assert answers == [(422, "fetch_timeout")] * FETCHES_PER_PROCESS
    # The bound is released: the next one is fetched again.
    again = trusting_app.test_client().post("/api/v1/listen", json={"url": f"{site}/slow"})
    assert _error(again) == (422, "fetch_timeout")


def test_a_publisher_sends_a_page_by_its_url_at_publish_time(
    service_config: dict[str, Any], site: str
) -> None:
    from tests.service.test_publishers import ARTICLES, NEWS, SITES

    app = create_app({**service_config, **SITES, "LISTEN_FETCH_ALLOW_PRIVATE": True})
    client = app.test_client()
    answer = client.post(ARTICLES, json={"articles": [{"url": f"{site}/article"}]}, headers=NEWS)
    assert answer.status_code == 202, answer.get_json()
    [job] = answer.get_json()["articles"]
    assert job["status"] == "queued"
    # The site's own article (its feed's), as if sent as text with its key.
    [listed] = client.get(ARTICLES, headers=NEWS).get_json()["articles"]
    assert (listed["id"], listed["via"], listed["title"]) == (job["id"], "publisher", TITLE)
    # Several pages in one request would fetch them all inside it: refused.
    two = [{"url": f"{site}/a"}, {"text": "Hello."}]
    answer = client.post(ARTICLES, json={"articles": two}, headers=NEWS).get_json()
    assert answer["articles"][0]["error"]["code"] == "invalid_field"
    assert answer["articles"][1]["status"] == "queued"
