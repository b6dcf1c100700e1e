"""A site's lexicon in its articles, with real workers: editing it re-renders exactly
the articles it touches, and the words are said as the editors wrote."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from listen_service import create_app
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_lexicons import NEWS, SITES, URL

POSTER = {"X-Listen-Key": "news-public-key"}
ENTRY = {"graphemes": ["HKTDC"], "alias": "Hong Kong Trade Development Council"}


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app({**service_config, **SITES})


def post(client: FlaskClient, text: str) -> tuple[int, dict[str, Any]]:
    response = client.post("/api/v1/listen", json={"text": text}, headers=POSTER)
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    return response.status_code, response.get_json()


def ready(client: FlaskClient, text: str) -> dict[str, Any]:
    status, body = post(client, text)
    if status == 202:
        body = wait_ready(client, body["status_url"])
    assert body["status"] == "ready", body
    return body


def test_editing_a_lexicon_re_renders_exactly_the_articles_it_touches(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    run = uuid.uuid4().hex[:8]
    touched = f"The HKTDC organised it, in run {run}."
    untouched = f"Nobody else organised it, in run {run}."
    worker = start_worker(app, tmp_path / "worker.log", concurrency=2)
    try:
        before = [ready(client, text) for text in (touched, untouched)]
        assert client.put(URL, headers=NEWS, json=[ENTRY]).status_code == 200

        status, body = post(client, untouched)
        assert (status, body["id"]) == (200, before[1]["id"]), "an article it does not touch"
        status, body = post(client, touched)
        assert status == 202 and body["id"] != before[0]["id"], "the article it touches"
        after = wait_ready(client, body["status_url"])
    finally:
        worker.stop()
    # Only the entry that applies travels with the job, for the worker to apply.
    payload = app.extensions["listen_jobs"].payload(after["id"])
    assert payload is not None and payload["lexicon"] == [ENTRY]
    # "Hong Kong Trade Development Council" is said instead of five letters.
    assert after["duration_s"] > before[0]["duration_s"] + 0.8
    # Taken out of the lexicon, the article is the first audio again.
    assert client.put(URL, headers=NEWS, json=[]).status_code == 200
    status, body = post(client, touched)
    assert (status, body["id"]) == (200, before[0]["id"])
