"""POST → queued → ready → audio, in both modes, with a real worker process."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ARTICLE, ffprobe, require
from tests.service.conftest import Worker, start_worker


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def wait_ready(client: FlaskClient, status_url: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(status_url + "?wait=10").get_json()
        if body["status"] in ("ready", "failed"):
            return body  # type: ignore[no-any-return]
    pytest.fail(f"job not done after {timeout} s: {body}")


def test_post_then_ready_then_audio(app: Flask, worker: Worker) -> None:
    client = app.test_client()
    text = ARTICLE.read_text()[:1200]
    posted = client.post("/api/v1/listen", json={"text": text, "title": "Win-win"})
    assert posted.status_code == 202
    body = posted.get_json()
    assert body["status"] in ("queued", "working")
    # Absolute, from the request's host (LISTEN_PUBLIC_URL is not set here).
    assert posted.headers["Location"] == body["status_url"]
    assert body["status_url"] == f"http://localhost/api/v1/jobs/{body['id']}"
    assert body["audio_url"] == f"http://localhost/audio/{body['id']}.mp3"
    done = wait_ready(client, body["status_url"])
    assert done["status"] == "ready" and done["progress"] == 1.0 and done["duration_s"] > 10
    audio = client.get(done["audio_url"])
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
    assert audio.data == app.extensions["listen_cache"].get(body["id"]).audio_path.read_bytes()
    audio.close()
    timings = client.get(done["timings_url"]).get_json()
    assert len(timings["timings"]) > 3

    again = client.post("/api/v1/listen", json={"text": text, "title": "Win-win"})
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"] and again.get_json()["status"] == "ready"
    assert worker.syntheses(body["id"]) == 1


def test_twenty_concurrent_posts_make_one_synthesis(
    app: Flask, worker: Worker, server: str
) -> None:
    text = "A brand new article, posted by twenty readers at once. " * 12
    barrier = threading.Barrier(20)
    results: list[tuple[int, dict[str, Any]]] = []

    def post() -> None:
        barrier.wait()
        status, _, raw = http("POST", server + "/api/v1/listen", {"text": text})
        results.append((status, json.loads(raw)))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 20
    assert {status for status, _ in results} <= {200, 202}
    ids = {body["id"] for _, body in results}
    assert len(ids) == 1
    done = wait_ready(app.test_client(), f"/api/v1/jobs/{ids.pop()}")
    assert done["status"] == "ready"
    time.sleep(1)  # let any duplicate task (there must be none) show up in the log
    assert worker.syntheses(done["id"]) == 1
    job = app.extensions["listen_jobs"].get(done["id"])
    assert job.attempts == 1


def test_event_stream_reports_until_ready(app: Flask, worker: Worker, server: str) -> None:
    status, _, raw = http("POST", server + "/api/v1/listen", {"text": ARTICLE.read_text()[:2500]})
    job_id = json.loads(raw)["id"]
    events: list[dict[str, Any]] = []
    with urllib.request.urlopen(f"{server}/api/v1/jobs/{job_id}/events", timeout=120) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        kind = b""
        for line in stream:
            if line.startswith(b"event: "):
                kind = line[7:].strip()
            elif line.startswith(b"data: ") and kind == b"status":  # not the timings events
                events.append(json.loads(line[6:]))
    assert status == 202
    assert events[-1]["status"] == "ready"
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)
    assert len(events) >= 2


def test_long_poll_returns_on_change_not_on_timeout(app: Flask, worker: Worker) -> None:
    client = app.test_client()
    body = client.post("/api/v1/listen", json={"text": "Short and quick."}).get_json()
    started = time.monotonic()
    done = client.get(body["status_url"] + "?wait=25").get_json()
    assert time.monotonic() - started < 20
    assert done["status"] in ("working", "ready")


def test_lost_message_is_enqueued_again(
    app: Flask, mode: str, tmp_path: Path, redis_client_or_none: Any
) -> None:
    """The broker lost the message (restarted without persistence): a status request re-enqueues."""
    app.config["LISTEN_STALE_SECONDS"] = 1.0
    client = app.test_client()
    body = client.post(
        "/api/v1/listen", json={"text": "Nobody will pick this up at first."}
    ).get_json()
    assert body["status"] == "queued"
    if mode == "embedded":
        queue = Path(app.config["LISTEN_DATA_DIR"]) / "broker" / "queue"
        lost = [p for p in queue.iterdir() if p.name.endswith(".msg")]
        assert len(lost) == 1
        lost[0].unlink()
    else:
        assert redis_client_or_none.delete("listen", "listen.bulk") == 1
    time.sleep(1.2)
    w = start_worker(app, tmp_path / "late-worker.log")
    try:
        done = wait_ready(client, body["status_url"])
    finally:
        w.stop()
    assert done["status"] == "ready"
    assert app.extensions["listen_jobs"].get(body["id"]).attempts == 1  # started once


def test_worker_killed_midway_the_job_still_completes(app: Flask, tmp_path: Path) -> None:
    app.config["LISTEN_STALE_SECONDS"] = 3.0
    w = start_worker(app, tmp_path / "victim.log")
    client = app.test_client()
    text = (ARTICLE.read_text() + "\n\n") * 6
    body = client.post("/api/v1/listen", json={"text": text}).get_json()
    deadline = time.monotonic() + 60
    while client.get(body["status_url"]).get_json()["status"] != "working":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    children = w.pool_children()
    assert children
    subprocess.run(["kill", "-9", *map(str, children)], check=True)
    try:
        done = wait_ready(client, body["status_url"], timeout=240)
    finally:
        w.stop()
    assert done["status"] == "ready"
    ffprobe(app.extensions["listen_cache"].get(body["id"]).audio_path)


def test_curl_sees_ranges_and_conditional_requests(app: Flask, worker: Worker, server: str) -> None:
    curl = require("curl")
    client = app.test_client()
    body = client.post("/api/v1/listen", json={"text": "Ranges, please."}).get_json()
    done = wait_ready(client, body["status_url"])
    url = server + urllib.parse.urlsplit(done["audio_url"]).path
    whole = subprocess.run([curl, "-s", url], capture_output=True, check=True).stdout
    part = subprocess.run([curl, "-s", "-r", "100-199", url], capture_output=True, check=True)
    assert part.stdout == whole[100:200]
    head = subprocess.run(
        [curl, "-s", "-I", url], capture_output=True, text=True, check=True
    ).stdout
    etag = next(
        h.split(":", 1)[1].strip() for h in head.splitlines() if h.lower().startswith("etag:")
    )
    code = subprocess.run(
        [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert code == "304"
    assert shutil.which("curl")


def test_engine_lives_in_pool_processes_never_in_the_parent(app: Flask, worker: Worker) -> None:
    client = app.test_client()
    body = client.post("/api/v1/listen", json={"text": "Where does the engine live?"}).get_json()
    assert wait_ready(client, body["status_url"])["status"] == "ready"

    def has_espeak(pid: int) -> bool:
        return "libespeak-ng" in Path(f"/proc/{pid}/maps").read_text()

    assert not has_espeak(worker.proc.pid)
    assert any(has_espeak(pid) for pid in worker.pool_children())


def test_transient_failures_are_retried_then_reported(app: Flask, tmp_path: Path) -> None:
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'encoder on fire' >&2\nexit 1\n")
    broken.chmod(0o755)
    app.config["LISTEN_FFMPEG"] = str(broken)
    app.config["LISTEN_TASK_MAX_RETRIES"] = 1
    w = start_worker(app, tmp_path / "retry.log")
    client = app.test_client()
    try:
        body = client.post("/api/v1/listen", json={"text": "This will not encode."}).get_json()
        done = wait_ready(client, body["status_url"], timeout=60)
    finally:
        w.stop()
    assert done["status"] == "failed"
    assert done["error"]["code"] == "encoder_failed"
    # Clients get the code; the detail is kept in the record for operators.
    assert "encoder on fire" not in done["error"]["message"]
    record = app.extensions["listen_jobs"].get(body["id"])
    assert "gave up after 2 attempts" in record.error["message"]
    assert record.attempts == 2  # the count in the record is the one in the message
    assert "encoder on fire" in record.error["message"]
    assert w.text().count("Retry in 2s") == 1
    assert app.extensions["listen_cache"].get(body["id"]) is None


def test_an_unexpected_error_is_reported_not_left_working(app: Flask, worker: Worker) -> None:
    from listen_service.celery import SYNTHESIZE

    job_id = "cd" * 32
    store = app.extensions["listen_jobs"]
    payload = {"text": 12345}  # not a string: the pipeline fails in a way it does not expect
    assert store.accept(job_id, payload)
    app.extensions["celery"].send_task(SYNTHESIZE, args=[job_id, payload])
    done = wait_ready(app.test_client(), f"/api/v1/jobs/{job_id}", timeout=60)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "internal_error"
