"""Chromium plays the audio of a job still in progress, in each streamed format.

A bare ``<audio>`` element on the service's audio URL, not the player: this
is what decides which formats stream (MP3 and Ogg/Opus do).
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import BrowserContext

from tests.browser.conftest import Live
from tests.conftest import ARTICLE


@pytest.mark.parametrize("fmt", ["mp3", "ogg"])
def test_chromium_plays_a_job_in_progress(live: Live, context: BrowserContext, fmt: str) -> None:
    text = f"Streamed {fmt} in the browser.\n\n" + (ARTICLE.read_text() + "\n\n") * 12
    request = urllib.request.Request(
        f"{live.url}/api/v1/listen",
        json.dumps({"text": text, "format": fmt}).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        job = json.load(response)
    deadline = time.monotonic() + 60
    while job["status"] != "working":
        assert job["status"] == "queued" and time.monotonic() < deadline, job
        time.sleep(0.02)
        job = live.get_json(f"/api/v1/jobs/{job['id']}")
    page = context.new_page()
    page.goto(f"{live.url}/livez")
    page.evaluate(
        """url => {
            window.played = new Audio(url);
            window.played.muted = true;
            window.played.play().catch(e => { window.failed = String(e); });
        }""",
        job["audio_url"],  # absolute
    )
    page.wait_for_function(
        "window.failed || window.played.error || window.played.currentTime > 0.5", timeout=30000
    )
    state = live.get_json(f"/api/v1/jobs/{job['id']}")["status"]
    error = page.evaluate("window.failed || (window.played.error && window.played.error.message)")
    assert error is None
    assert state == "working", "the audio played only once the job was ready"
    page.evaluate("window.played.pause()")
    page.close()
