"""The operator's console in real Chromium, with JavaScript off: what works without it.

Two jobs fail on a broken encoder; once it is fixed, an operator logs in by
the form, opens the failures, reads the reason, clicks Retry and watches the
page (refreshing itself by ``<meta http-equiv="refresh">``) show the job
ready. With ``LISTEN_UPDATE_SCREENSHOTS=1`` the page is saved as
``docs/ops-console.png`` (docs/operations.md shows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from listen_service import create_app
from tests.browser.conftest import _serve
from tests.browser.test_player import _screenshots
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_ops_jobs import TOKEN, break_encoder

ARTICLES = {
    "Budget 2027: what changes for renters": "The budget was presented on Tuesday. "
    "Rents will be capped for two years, the minister said.",
    "Rail strike called off after late talks": "The strike planned for Monday will not "
    "go ahead. Talks ended at 2 a.m. with an offer the union accepted.",
    "Council approves new cycle lanes": "Twelve kilometres of lanes will be built by June.",
    "Heatwave warning for the weekend": "Temperatures may reach 36 degrees on Saturday.",
    "Library reopens after repairs": "The central library reopens on 3 March after a year.",
}


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask, list[str]]]:
    """The service with its console on; two jobs failed, three ready; a worker running."""
    data = tmp_path_factory.mktemp("ops-data")
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(data),
            "LISTEN_OPS_TOKEN": TOKEN,
            "LISTEN_OPS_REFRESH_SECONDS": 1,
            "LISTEN_STALE_SECONDS": 60,
        }
    )
    client = app.test_client()
    working = break_encoder(app, data)

    def post(title: str) -> str:
        body = client.post("/api/v1/listen", json={"text": ARTICLES[title], "title": title}).json
        assert body is not None and wait_ready(client, body["status_url"], timeout=60)
        return str(body["id"])

    titles = list(ARTICLES)
    broken = start_worker(app, data / "broken.log")
    try:
        failed = [post(t) for t in titles[:2]]
    finally:
        broken.stop()
    app.config["LISTEN_FFMPEG"] = working
    worker = start_worker(app, data / "worker.log")
    try:
        for title in titles[2:]:
            post(title)
        url, stop = _serve(app)
        yield url, app, failed
        stop()
    finally:
        worker.stop()


def test_an_operator_finds_a_failure_and_retries_it_without_javascript(
    ops: tuple[str, Flask, list[str]], browser: Browser, tmp_path: Path
) -> None:
    url, app, failed = ops
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    page: Page = context.new_page()
    try:
        answer = page.goto(url + "/ops")
        assert answer is not None and answer.status == 401
        page.fill("#token", "not the token, but long enough")
        page.click("button[type=submit]")
        expect(page.locator("[role=alert]")).to_contain_text("not the operator token")
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Listen operations")
        expect(page.locator("#health")).to_contain_text("Service healthy")
        expect(page.locator("#workers tbody tr.alive")).to_have_count(1)

        page.click("text=failures (2)")
        expect(page.locator("#jobs")).to_contain_text("Failures by reason")
        page.click("text=Pause")  # the notice after a click stays until we look
        first = page.locator(f"#job-{failed[0]}")
        expect(first).to_contain_text("encoder_failed")
        expect(first).to_contain_text("Budget 2027: what changes for renters")
        expect(page.locator("#jobs")).to_contain_text("Failures by reason: encoder_failed 2")
        first.get_by_role("button", name="Retry Budget 2027: what changes for renters").click()
        expect(page.locator("[role=status]").last).to_contain_text("Retried")
        expect(page.locator(f"#job-{failed[0]}")).to_have_count(0)
        expect(page.locator(f"#job-{failed[1]}")).to_have_count(1)
        # Among all jobs it is ready, its audio made, and the page reloads by itself
        # (no script runs): it does so again while nobody touches it.
        page.click("text=all")
        expect(page.locator(f"#job-{failed[0]} td.status-ready")).to_have_count(1, timeout=60_000)
        loads: list[str] = []
        page.on("load", lambda p: loads.append(p.url))
        page.wait_for_event("load", timeout=10_000)
        assert loads and loads[-1] == url + "/ops"
        assert app.extensions["listen_cache"].get(failed[0]) is not None
        expect(page.locator("#hour")).to_contain_text("Jobs ended")
        expect(page.locator("#hour svg rect.ready").first).to_be_attached()
        page.goto(url + "/ops?refresh=off")
        shot = _screenshots(tmp_path) / "ops-console.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()
