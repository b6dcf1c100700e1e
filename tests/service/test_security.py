"""Security headers on every kind of response; the demo page publishes no site's key.

The audio served here is real: spoken by the engine and encoded by ffmpeg into
the app's own cache.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from listen_service import create_app
from listen_service.security import REFERRER_POLICY
from workers.pipeline import Request, plan, synthesize

ORIGIN = "https://news.example"
KEYS = {"News Daily": "news-key-123", "Blog": "blog-key-456", "Demo": "demo-key-789"}
SITE_KEYS = ",".join(f"{site}:{key}" for site, key in KEYS.items())


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app({"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_ALLOWED_ORIGINS": ORIGIN})


@pytest.fixture
def spoken(app: Flask, engine: Any) -> str:
    """The id of a real audio in the app's cache."""
    job = plan(Request(text="Headers on every response.", title="Headers"), engine.voices())
    entry, _ = synthesize(job, cache=app.extensions["listen_cache"], engine=engine)
    return entry.key


JSON = "application/json"
PREFLIGHT = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
# (method, path, request options, expected status, expected Content-Type prefix)
RESPONSES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/api/v1/voices", {}, 200, JSON),
    ("GET", "/api/v1/openapi.json", {}, 200, JSON),
    ("POST", "/api/v1/listen", {"json": {"text": "Queued with headers."}}, 202, JSON),
    ("GET", "/api/v1/jobs/{id}", {}, 200, JSON),
    ("GET", "/api/v1/jobs/{id}/events", {}, 200, "text/event-stream"),
    ("GET", "/healthz", {}, 503, JSON),  # honest: no worker runs in these tests
    ("GET", "/livez", {}, 200, JSON),
    ("GET", "/metrics", {}, 200, "text/plain"),
    ("GET", "/api/v1/jobs/" + "0" * 64, {}, 404, JSON),
    ("GET", "/no/such/page", {}, 404, JSON),
    ("DELETE", "/api/v1/voices", {}, 405, JSON),
    ("POST", "/api/v1/listen", {"data": "{", "content_type": JSON}, 400, JSON),
    ("OPTIONS", "/api/v1/listen", {"headers": PREFLIGHT}, 403, JSON),
    ("GET", "/", {}, 200, "text/html"),
    ("GET", "/static/demo.css", {}, 200, "text/css"),
    ("GET", "/embed/{id}", {}, 200, "text/html"),
    ("GET", "/player.js", {}, 200, "text/javascript"),
    ("GET", "/audio/{id}.mp3", {}, 200, "audio/mpeg"),
    ("GET", "/audio/{id}.mp3", {"headers": {"Range": "bytes=0-99"}}, 206, "audio/mpeg"),
    ("GET", "/audio/{id}.json", {}, 200, JSON),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "options", "status", "kind"), RESPONSES)
def test_every_response_carries_nosniff_and_a_referrer_policy(
    app: Flask,
    request: pytest.FixtureRequest,
    method: str,
    path: str,
    options: dict[str, Any],
    status: int,
    kind: str,
) -> None:
    if "{id}" in path:
        path = path.format(id=request.getfixturevalue("spoken"))
    # Buffered, so that a served file is closed as a WSGI server would close it.
    response = app.test_client().open(path, method=method, buffered=True, **options)
    assert response.status_code == status, response.data[:300]
    # nosniff makes browsers trust Content-Type alone, so it must be right.
    assert response.content_type.startswith(kind)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    expected = "no-referrer" if path.startswith("/embed/") else REFERRER_POLICY
    assert response.headers["Referrer-Policy"] == expected


@pytest.mark.parametrize("path", ["/player.js", "/audio/{id}.mp3", "/audio/{id}.json"])
def test_the_player_and_audio_still_load_on_publishers_pages(
    app: Flask, spoken: str, path: str
) -> None:
    response = app.test_client().get(
        path.format(id=spoken), headers={"Origin": ORIGIN}, buffered=True
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    # A same-origin resource policy would stop publishers' pages loading them.
    assert "Cross-Origin-Resource-Policy" not in response.headers


class _Page(HTMLParser):
    """What of a page a Content-Security-Policy governs."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes.get("src"))
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"] or "")
        if tag == "style":
            self.inline.append("<style>")
        self.inline += [f"{tag} {name}=" for name in attributes if name.startswith("on")]
        self.inline += [f"{tag} style=" for name in attributes if name == "style"]


def directives(csp: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in csp.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


def test_the_demo_page_keeps_to_its_content_security_policy(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/")
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'self'"]
    page = _Page()
    page.feed(response.get_data(as_text=True))
    # No inline script, style or event handler for the policy to block…
    assert page.inline == []
    assert page.scripts == ["/player.js"]
    assert page.stylesheets == ["/static/demo.css"]
    # …and what it loads comes from this server.
    assert client.get("/player.js", buffered=True).status_code == 200
    assert client.get("/static/demo.css", buffered=True).status_code == 200


def test_the_demo_page_allows_the_api_at_the_public_url(tmp_path: Path) -> None:
    app = create_app(
        {"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_PUBLIC_URL": "https://listen.example/base"}
    )
    policy = directives(app.test_client().get("/").headers["Content-Security-Policy"])
    assert policy["connect-src"] == ["'self'", "https://listen.example"]
    # blob: is the player's own Media Source (progressive playback), never another origin.
    assert policy["media-src"] == ["'self'", "https://listen.example", "blob:"]


def test_the_embed_page_keeps_its_own_policy(app: Flask, spoken: str) -> None:
    policy = directives(
        app.test_client().get(f"/embed/{spoken}").headers["Content-Security-Policy"]
    )
    assert policy["frame-ancestors"] == ["'self'", ORIGIN]
    assert policy["style-src"][0] == "'self'" and policy["style-src"][1].startswith("'sha256-")
    assert policy["script-src"] == ["'self'"]


def test_the_demo_page_shows_none_of_the_configured_keys(tmp_path: Path) -> None:
    app = create_app({"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_SITE_KEYS": SITE_KEYS})
    html = app.test_client().get("/").get_data(as_text=True)
    for key in KEYS.values():
        assert key not in html
    assert "data-key" not in html
    # The operator learns why the button is refused, and what to set.
    assert "LISTEN_DEMO_SITE" in html


def test_the_demo_site_key_alone_is_shown_and_accepted(tmp_path: Path) -> None:
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_SITE_KEYS": SITE_KEYS,
            "LISTEN_DEMO_SITE": "Demo",
        }
    )
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert f'data-key="{KEYS["Demo"]}"' in html
    assert KEYS["News Daily"] not in html and KEYS["Blog"] not in html
    assert "LISTEN_DEMO_SITE" not in html
    posted = client.post(
        "/api/v1/listen",
        json={"text": "Posted by the demo."},
        headers={"X-Listen-Key": KEYS["Demo"]},
    )
    assert posted.status_code == 202, posted.get_json()


def test_without_keys_the_demo_needs_none(app: Flask) -> None:
    html = app.test_client().get("/").get_data(as_text=True)
    assert "data-key" not in html
    assert "LISTEN_DEMO_SITE" not in html
