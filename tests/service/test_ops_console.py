"""``/ops``, the operator's console, against real workers in both modes.

Who may see it (the operator token, by login form and cookie or by Bearer
header; JSON errors for clients that do not ask for HTML), that its buttons
need the session's CSRF token, and what an operator does with it: find a
failed job and its reason, retry it once the cause is fixed, cancel a long
working job, see which worker runs what. The browser test
(``tests/browser/test_ops_console.py``) clicks the same buttons in Chromium.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from listen_service import create_app
from tests.conftest import no_temp_files
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_ops_jobs import (
    ARTICLE,
    AUTH,
    TOKEN,
    assert_operator_only,
    break_encoder,
)

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JOB = "ab" * 32


@pytest.fixture
def ops_app(app: Flask) -> Flask:
    app.config["LISTEN_OPS_TOKEN"] = TOKEN
    app.config["LISTEN_OPS_REFRESH_SECONDS"] = 7
    return app


def log_in(client: FlaskClient) -> str:
    """Log ``client`` in by the form; the CSRF token of its session."""
    response = client.post("/ops/login", data={"token": TOKEN}, headers=HTML)
    assert (response.status_code, response.headers["Location"]) == (303, "/ops")
    return csrf_of(page(client))


def page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/ops{query}", headers=HTML)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', text)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


def row_of(text: str, job_id: str) -> str:
    found = re.search(rf'<tr id="job-{job_id}">(.*?)</tr>', text, re.S)
    assert found, f"job {job_id[:12]} is not on the page"
    return html.unescape(found.group(1))


CONSOLE = [
    ("get", "/ops"),
    ("post", f"/ops/jobs/{JOB}/retry"),
    ("post", f"/ops/jobs/{JOB}/cancel"),
    ("post", "/ops/logout"),
]


@pytest.mark.parametrize(("method", "path"), CONSOLE)
def test_every_console_route_needs_the_operator(app: Flask, method: str, path: str) -> None:
    client = app.test_client()
    call = getattr(client, method)
    assert client.get("/ops/login").status_code == 404
    assert_operator_only(app, call, path)
    # A browser is shown the login form, with the same status.
    form = call(path, headers=HTML)
    assert form.status_code == 401 and 'name="token"' in form.get_data(as_text=True)
    # A forged cookie is no login.
    client.set_cookie("listen_ops", "forged.value.here", path="/ops")
    assert call(path).status_code == 401


def test_login_cookie_csrf_and_logout(ops_app: Flask) -> None:
    client = ops_app.test_client()
    refused = client.post("/ops/login", data={"token": "y" * 32}, headers=HTML)
    assert refused.status_code == 403 and "not the operator token" in refused.get_data(True)
    assert "Set-Cookie" not in refused.headers

    answer = client.post("/ops/login", data={"token": TOKEN})
    cookie = answer.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/ops", "Max-Age=43200"):
        assert attribute in cookie
    text = page(client)
    csrf = csrf_of(text)
    assert '<meta http-equiv="refresh" content="7; url=/ops">' in text
    assert 'http-equiv="refresh"' not in page(client, "?refresh=off")

    # A queued job (no worker runs) and its Cancel button.
    posted = client.post("/api/v1/listen", json={"text": "Cancel me.", "title": "Doomed"})
    job_id = posted.get_json()["id"]
    assert f'action="/ops/jobs/{job_id}/cancel"' in page(client, "?status=queued")
    # Without the CSRF token, or with another session's, the button is refused.
    other = ops_app.test_client()
    other_csrf = log_in(other)
    assert other_csrf != csrf
    for sent in ({}, {"csrf": other_csrf}, {"csrf": "0" * 64}):
        refused = client.post(f"/ops/jobs/{job_id}/cancel", data=sent)
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "csrf_failed")
    assert ops_app.extensions["listen_jobs"].get(job_id).status == "queued"
    done = client.post(
        f"/ops/jobs/{job_id}/cancel", data={"csrf": csrf, "status": "queued"}, headers=HTML
    )
    assert done.status_code == 303
    assert done.headers["Location"] == f"/ops?status=queued&done=cancelled&job={job_id}"
    assert "Cancelled." in page(client, done.headers["Location"].removeprefix("/ops"))
    record = ops_app.extensions["listen_jobs"].get(job_id)
    assert (record.status, record.error["code"]) == ("failed", "cancelled")
    # A Bearer request needs no CSRF token: no browser sends that header by itself.
    retried = ops_app.test_client().post(f"/ops/jobs/{job_id}/retry", headers=AUTH)
    assert retried.status_code == 202 and retried.get_json()["job"]["status"] == "queued"
    # A button that cannot apply tells why, on the page.
    again = client.post(f"/ops/jobs/{job_id}/retry", data={"csrf": csrf}, headers=HTML)
    assert again.status_code == 409 and "only a failed job can be retried" in again.get_data(True)

    # Logging out ends the session; a new token ends every session.
    assert client.post("/ops/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/ops").status_code == 401
    log_in(client)
    ops_app.config["LISTEN_OPS_TOKEN"] = TOKEN[::-1]
    assert client.get("/ops").status_code == 401


def test_a_failure_shows_with_its_reason_and_retry_makes_audio(
    ops_app: Flask, tmp_path: Path
) -> None:
    app = ops_app
    client = app.test_client()
    csrf = log_in(client)
    working_encoder = break_encoder(app, tmp_path)
    text = "The encoder of this article is broken. Then it is fixed."
    w = start_worker(app, tmp_path / "broken.log")
    try:
        body = client.post("/api/v1/listen", json={"text": text, "title": "Fixed <later>"}).json
        assert body is not None
        assert wait_ready(client, body["status_url"], timeout=60)["status"] == "failed"
        pids = w.pool_children()
        workers = page(client)
        assert all(f'<td class="num">{pid}</td>' in workers for pid in pids)
    finally:
        w.stop()

    failures = page(client, "?status=failed")
    assert "Failures by reason: <code>encoder_failed</code> 1" in failures
    row = row_of(failures, body["id"])
    assert "Fixed <later>" in row  # the title as posted…
    assert "Fixed &lt;later&gt;" in failures and "Fixed <later>" not in failures  # …escaped
    assert "encoder_failed" in row and "encoder on fire" in row
    assert f'action="/ops/jobs/{body["id"]}/retry"' in row
    assert "Jobs ended</dt><dd>1 (0 ready, 1 failed)" in failures
    assert "No worker has sent a heartbeat." in page(client)

    app.config["LISTEN_FFMPEG"] = working_encoder
    w = start_worker(app, tmp_path / "fixed.log")
    try:
        clicked = client.post(
            f"/ops/jobs/{body['id']}/retry", data={"csrf": csrf, "status": "failed"}, headers=HTML
        )
        assert clicked.status_code == 303
        assert "done=retried" in clicked.headers["Location"]
        done = wait_ready(client, body["status_url"], timeout=120)
    finally:
        w.stop()
    assert done["status"] == "ready"
    assert app.extensions["listen_cache"].get(body["id"]) is not None
    ready = page(client, "?status=ready")
    row = row_of(ready, body["id"])
    assert "ready" in row and "encoder_failed" not in row and "Retry" not in row
    assert "Jobs ended</dt><dd>1 (1 ready, 0 failed)" in ready
    assert "No failures." in page(client, "?status=failed")
    # This process's counters (tests before this one posted too): at least our miss.
    [misses] = re.findall(r"\(\d+ hits, (\d+) misses\)", ready)
    assert int(misses) >= 1


def test_cancel_from_the_console_stops_a_long_working_job(ops_app: Flask, tmp_path: Path) -> None:
    app = ops_app
    client = app.test_client()
    csrf = log_in(client)
    text = "\n\n".join([ARTICLE.read_text()] * 12)
    w = start_worker(app, tmp_path / "worker.log")
    try:
        body = client.post("/api/v1/listen", json={"text": text, "title": "Long"}).get_json()
        job_id = body["id"]
        deadline = time.monotonic() + 120
        while (state := client.get(body["status_url"]).get_json())["progress"] < 0.05:
            assert state["status"] in ("queued", "working") and time.monotonic() < deadline
            time.sleep(0.05)
        running = page(client, "?status=working")
        assert f'<code title="{job_id}">{job_id[:12]}</code> for' in running  # on its worker
        clicked = client.post(f"/ops/jobs/{job_id}/cancel", data={"csrf": csrf}, headers=HTML)
        assert clicked.status_code == 303
        assert "done=" in clicked.headers["Location"]
        final = wait_ready(client, body["status_url"], timeout=60)
        assert final["status"] == "failed"
        assert w.syntheses(job_id) == 0
    finally:
        w.stop()
    assert app.extensions["listen_cache"].get(job_id) is None
    assert no_temp_files(Path(app.config["LISTEN_DATA_DIR"])) == []
    row = row_of(page(client, "?status=failed"), job_id)
    assert "cancelled" in row and "Retry" in row


def test_a_bad_filter_is_said_on_the_page_and_a_paused_page_stays_paused(ops_app: Flask) -> None:
    client = ops_app.test_client()
    csrf = log_in(client)
    bad = client.get("/ops?status=bogus", headers=HTML)
    assert bad.status_code == 400 and "status must be one of" in bad.get_data(as_text=True)
    assert 'id="jobs"' in bad.get_data(as_text=True)  # the page, unfiltered
    as_json = client.get("/ops?status=bogus")
    assert (as_json.status_code, as_json.get_json()["error"]["code"]) == (400, "invalid_status")
    job_id = client.post("/api/v1/listen", json={"text": "Paused."}).get_json()["id"]
    paused = page(client, "?refresh=off")
    assert 'name="refresh" value="off"' in paused and "Resume" in paused
    done = client.post(
        f"/ops/jobs/{job_id}/cancel",
        data={"csrf": csrf, "refresh": "off", "status": "bogus"},
        headers=HTML,
    )
    assert done.headers["Location"] == f"/ops?refresh=off&done=cancelled&job={job_id}"


def test_the_page_shows_what_it_can_when_the_stores_are_unreachable(tmp_path: Path) -> None:
    # Redis mode with nothing listening: broker, job store and worker registry all fail.
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path / "data"),
            "LISTEN_BROKER_URL": "redis://127.0.0.1:1/0",
            "LISTEN_OPS_TOKEN": TOKEN,
        }
    )
    client = app.test_client()
    log_in(client)
    text = page(client)
    assert "Service unavailable" in text and "broker: unreachable" in text
    assert "The worker registry is unreachable." in text
    assert text.count("The job store is unreachable.") == 2  # last hour, jobs
    assert "broker unreachable" in text  # the queue's table
