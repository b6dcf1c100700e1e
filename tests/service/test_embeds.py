"""Embed links in job bodies are absolute, so a snippet pasted on another site works there.

From ``LISTEN_PUBLIC_URL`` when set, else from the host the request came in
on, with the scheme a trusted proxy forwards; the same in every body,
including the events of a stream (made after its request has returned).
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from listen_service import create_app
from listen_service.embeds import EMBED_HEIGHT_PX, embed_links

ARTICLE = {"text": "A snippet for another site. It must point home."}


def _app(tmp_path: Path, **settings: Any) -> Flask:
    return create_app({"LISTEN_DATA_DIR": str(tmp_path), **settings})


class _Frames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.frames.append({"tag": tag, **dict(attrs)})


def _frame(snippet: str) -> dict[str, str | None]:
    parser = _Frames()
    parser.feed(snippet)
    [frame] = parser.frames
    assert frame["tag"] == "iframe"
    return frame


@pytest.mark.parametrize(
    ("settings", "request_args", "base"),
    [
        ({}, {}, "http://localhost"),
        ({}, {"base_url": "http://listen.news.example:8080"}, "http://listen.news.example:8080"),
        # A forwarded scheme counts only from a proxy Listen is told to trust.
        ({}, {"headers": {"X-Forwarded-Proto": "https"}}, "http://localhost"),
        (
            {"LISTEN_PROXY_HOPS": 1},
            {"headers": {"X-Forwarded-Proto": "https", "Host": "listen.news.example"}},
            "https://listen.news.example",
        ),
        (
            {"LISTEN_PUBLIC_URL": "https://audio.news.example/listen/"},
            {"base_url": "http://10.0.0.5:8000"},
            "https://audio.news.example/listen",
        ),
    ],
)
def test_embed_links_are_absolute(
    tmp_path: Path, settings: dict[str, Any], request_args: dict[str, Any], base: str
) -> None:
    client = _app(tmp_path, **settings).test_client()
    posted = client.post("/api/v1/listen", json=ARTICLE, **request_args)
    assert posted.status_code == 202, posted.get_json()
    body = posted.get_json()
    assert body["embed_url"] == f"{base}/embed/{body['id']}"
    frame = _frame(body["embed_html"])
    assert frame["src"] == body["embed_url"]
    assert frame["height"] == str(EMBED_HEIGHT_PX) and frame["width"] == "100%"
    polled = client.get(f"/api/v1/jobs/{body['id']}", **request_args).get_json()
    assert (polled["embed_url"], polled["embed_html"]) == (body["embed_url"], body["embed_html"])


def test_event_streams_carry_the_same_absolute_links(tmp_path: Path) -> None:
    """No worker: the job stays queued, and the stream sends its state until its time is up."""
    client = _app(tmp_path, LISTEN_SSE_MAX_SECONDS=0.3).test_client()
    base = "http://listen.news.example"
    body = client.post("/api/v1/listen", json=ARTICLE, base_url=base).get_json()
    stream = client.get(f"/api/v1/jobs/{body['id']}/events", base_url=base, buffered=True)
    text = stream.get_data(as_text=True)
    assert text.count("event: status") >= 1
    assert text.count(f'"embed_url": "{base}/embed/{body["id"]}"') == text.count("event: status")


def test_a_hostile_host_cannot_break_out_of_the_snippet() -> None:
    links = embed_links("a" * 64, 'https://x.example/"><script>alert(1)</script>')
    frame = _frame(links["embed_html"])
    assert frame["src"] == links["embed_url"]
    assert "<script>" not in links["embed_html"]
