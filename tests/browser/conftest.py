"""Real Chromium against the real service: a Celery worker, an HTTP server and a second site.

The service runs once per session (the demo article is synthesised once and
then served from the cache, as in production). A second tiny server plays
the publisher: a different origin, listed in ``LISTEN_ALLOWED_ORIGINS``, whose
pages embed ``player.js`` from the service. Chromium is Debian's; a missing
browser or Playwright fails the tests, never skips them.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from listen_service import create_app
from listen_service.errors import JOB_ERROR_MESSAGES
from listen_service.run import _KeepAliveHandler
from tests.service.conftest import Worker, start_worker

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError as exc:  # pragma: no cover - reported as a failure below
    _PLAYWRIGHT_ERROR: ImportError | None = exc
else:
    _PLAYWRIGHT_ERROR = None

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHADOW = "document.querySelector('listen-button').shadowRoot"
AUDIO = f"{SHADOW}.querySelector('audio')"


def told(code: str) -> str:
    """What the player tells a reader of a job that failed with ``code``: the
    first part of the public message, as a sentence."""
    first = JOB_ERROR_MESSAGES[code].split(";")[0].strip()
    return f"{first[0].upper()}{first[1:]}."


@dataclass
class Site:
    """A publisher's site on another origin: ``pages[path] = html``."""

    origin: str
    pages: dict[str, str] = field(default_factory=dict)


def _serve(app: Callable[..., Iterable[bytes]]) -> tuple[str, Callable[[], None]]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_KeepAliveHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        thread.join(10)

    return f"http://127.0.0.1:{httpd.port}", stop


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    pages: dict[str, str] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        html = pages.get(environ.get("PATH_INFO", ""))
        if html is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = html.encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    origin, stop = _serve(app)
    yield Site(origin, pages)
    stop()


@dataclass
class Live:
    url: str
    app: Flask
    worker: Worker

    def post(self, body: dict[str, Any], origin: str | None = None) -> dict[str, Any]:
        """POST /api/v1/listen and wait until the audio is ready; the final job body."""
        headers = {"Content-Type": "application/json"}
        if origin:
            headers["Origin"] = origin
        request = urllib.request.Request(
            f"{self.url}/api/v1/listen", json.dumps(body).encode(), headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            job: dict[str, Any] = json.load(response)
        return self.ready(job)

    def ready(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's body once it is ready (long polls; fails if it fails)."""
        deadline = time.monotonic() + 120
        while job["status"] != "ready":
            assert job["status"] != "failed", job
            assert time.monotonic() < deadline, job
            asked = time.monotonic()
            job = self.get_json(f"/api/v1/jobs/{job['id']}?wait=20")
            if time.monotonic() - asked < 0.2:
                # Answered at once: the player on the page holds this address's
                # share of waits (LISTEN_STREAMS_PER_CLIENT); no tight loop into a 429.
                time.sleep(0.25)
        return job

    def meta(self, job_id: str) -> dict[str, Any]:
        """``/audio/<id>.json``, once the job is made: a player plays (progressive
        audio) before it is, and on a busy machine it may still be working."""
        self.ready({"id": job_id, "status": "working"})
        return self.get_json(f"/audio/{job_id}.json")

    def get_json(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def live(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from serve_live(site, tmp_path_factory.mktemp("browser-data"))


def serve_live(site: Site, data: Path, **settings: Any) -> Iterator[Live]:
    """The service with its data in ``data`` (and ``settings``), its worker, a server."""
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(data),
            "LISTEN_STALE_SECONDS": 60,
            "LISTEN_ALLOWED_ORIGINS": site.origin,
            # Every test's tab posts from 127.0.0.1: the default 30 a minute per
            # address would turn the suite's own pace into 429s (tested elsewhere).
            "LISTEN_RATE_LIMIT_POST": "1000/minute",
            **settings,
        }
    )
    worker = start_worker(app, data / "worker.log", concurrency=1)
    try:
        url, stop = _serve(app)
        yield Live(url, app, worker)
        stop()
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if _PLAYWRIGHT_ERROR is not None:
        pytest.fail(
            f"Playwright for Python is required (pip install -e '.[dev]'): {_PLAYWRIGHT_ERROR}"
        )
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is required by the browser tests; .ci/run installs it")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    yield ctx
    ctx.close()


@dataclass
class Tab:
    """A page plus what it did: dialogs opened, requests made, texts posted."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    ranges: list[tuple[str, int]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def audio(self, prop: str) -> Any:
        return self.page.evaluate(f"{AUDIO}.{prop}")

    def audio_id(self) -> str:
        """The id of the audio the player plays (its source may be the file or a media source)."""
        job_id = self.page.evaluate("document.querySelector('listen-button').meta.id")
        assert isinstance(job_id, str) and len(job_id) == 64, job_id
        return job_id

    def shadow(self, expression: str) -> Any:
        """Evaluate ``expression`` with ``root`` bound to the player's shadow root."""
        return self.page.evaluate(f"(() => {{ const root = {SHADOW}; return {expression}; }})()")

    def wait_time(self, seconds: float, timeout_s: float = 90) -> None:
        """Wait until the audio is playing past ``seconds``."""
        try:
            self.page.wait_for_function(
                f"() => {AUDIO} && !{AUDIO}.paused && {AUDIO}.currentTime > {seconds}",
                timeout=timeout_s * 1000,
            )
        except PlaywrightTimeout:
            said = self.shadow("root.querySelector('[aria-live]').textContent")
            raise AssertionError(
                f"not playing past {seconds} s; player said {said!r}; console: {self.console}"
            ) from None


@pytest.fixture
def tab(context: BrowserContext) -> Tab:
    page = context.new_page()
    tab = Tab(page)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Any) -> None:
        tab.requests.append(request.url)
        if request.method == "POST" and request.url.endswith("/api/v1/listen"):
            tab.posted.append(request.post_data_json)

    def on_response(response: Any) -> None:
        range_header = response.request.all_headers().get("range")
        if range_header:
            tab.ranges.append((range_header, response.status))

    page.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: tab.console.append(f"error: {error}"))
    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.on("response", on_response)
    return tab
