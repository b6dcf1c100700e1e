"""What clients send and see, through real servers and workers: chunked bodies,
job errors without server paths, and the artist tag under site keys."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from listen_service import create_app
from tests.conftest import ffprobe
from tests.service.conftest import Worker, start_worker

SITE_KEY = "key-of-news-example"


def _post_chunked(base_url: str, total: int) -> tuple[int, dict[str, Any]]:
    """POST ``total`` bytes of JSON with Transfer-Encoding: chunked (no Content-Length)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (
        "POST /api/v1/listen HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    body = b'{"text": "' + b"a" * (total - 12) + b'"}'

    def send() -> None:
        # The server may answer and close before it has read everything.
        try:
            sock.sendall(head.encode())
            for start in range(0, len(body), 65536):
                piece = body[start : start + 65536]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    # Read while sending: the server may answer before it has read everything.
    response = http.client.HTTPResponse(sock)
    response.begin()
    payload = json.loads(response.read())
    response.close()
    with contextlib.suppress(OSError):  # the server may have closed already
        sock.shutdown(socket.SHUT_RDWR)  # wakes a sender blocked on a server that stopped reading
    sock.close()
    sender.join(30)
    return response.status, payload


def test_a_chunked_body_over_the_limit_is_413_like_any_other(server: str) -> None:
    status, body = _post_chunked(server, 10_000_000)
    assert status == 413
    assert body["error"]["code"] == "request_entity_too_large"
    # Declared with Content-Length, the same size gets the same answer.
    plain = requests.post(
        f"{server}/api/v1/listen",
        data=b"{" + b" " * 10_000_000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert plain.status_code == 413
    assert plain.json()["error"]["code"] == body["error"]["code"]


def test_a_chunked_body_up_to_the_limit_is_read_whole(server: str) -> None:
    # Exactly LISTEN_MAX_BODY_BYTES: read whole and parsed, so the text itself is
    # checked (too long), where a body cut short would be malformed JSON.
    status, body = _post_chunked(server, 1_000_000)
    assert (status, body["error"]["code"]) == (413, "text_too_long"), body
    status, body = _post_chunked(server, 1_000_001)
    assert (status, body["error"]["code"]) == (413, "request_entity_too_large"), body
    status, body = _post_chunked(server, 400)
    assert status == 202, body


# ------------------------------------------------------------ job errors


@pytest.fixture
def failing_ffmpeg(tmp_path: Path) -> Path:
    """An "ffmpeg" that fails the way a broken one does: naming a server path."""
    script = tmp_path / "bin" / "ffmpeg"
    script.parent.mkdir()
    script.write_text(
        f'#!/bin/sh\necho "{tmp_path}/data/audio/ab/cd/.tmp-x.mp3: Permission denied" >&2\nexit 1\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture
def failing_app(service_config: dict[str, Any], failing_ffmpeg: Path) -> Flask:
    return create_app(
        {**service_config, "LISTEN_FFMPEG": str(failing_ffmpeg), "LISTEN_TASK_MAX_RETRIES": 0}
    )


@pytest.fixture
def failing_worker(failing_app: Flask, tmp_path: Path) -> Iterator[Worker]:
    w = start_worker(failing_app, tmp_path / "worker.log")
    yield w
    w.stop()


def _paths_in(text: str, tmp_path: Path) -> list[str]:
    found = [p for p in (str(tmp_path), "/tmp/", "/srv/", "/home/", "/root/") if p in text]
    return found + re.findall(r"\.tmp-\w+", text)


def test_a_failed_job_shows_a_code_not_server_paths(
    failing_app: Flask, failing_worker: Worker, tmp_path: Path
) -> None:
    client = failing_app.test_client()
    job = client.post("/api/v1/listen", json={"text": "This will not encode."}).get_json()
    deadline = time.monotonic() + 90
    status = job
    while status["status"] != "failed" and time.monotonic() < deadline:
        status = client.get(f"{job['status_url']}?wait=5").get_json()
    assert status["status"] == "failed", status
    assert status["error"]["code"] == "encoder_failed"
    assert status["error"]["message"]
    events = client.get(f"/api/v1/jobs/{job['id']}/events").get_data(as_text=True)
    seen = json.dumps(status) + events
    assert '"failed"' in events
    assert _paths_in(seen, tmp_path) == []
    # The detail stays in the job record, for operators.
    record = failing_app.extensions["listen_jobs"].get(job["id"])
    assert record is not None and record.error is not None
    assert "Permission denied" in record.error["message"]
    assert failing_worker.proc.poll() is None


# ------------------------------------------------------------ the artist tag


@pytest.fixture
def keyed_app(service_config: dict[str, Any]) -> Flask:
    return create_app({**service_config, "LISTEN_SITE_KEYS": f"news.example:{SITE_KEY}"})


def test_with_site_keys_the_artist_is_the_keys_site(keyed_app: Flask, tmp_path: Path) -> None:
    client = keyed_app.test_client()
    headers = {"X-Listen-Key": SITE_KEY}
    spoofed = client.post(
        "/api/v1/listen", json={"text": "Who wrote this?", "site": "evil.example"}, headers=headers
    )
    assert spoofed.status_code == 422
    assert spoofed.get_json()["error"]["code"] == "invalid_field"
    assert "news.example" in spoofed.get_json()["error"]["message"]
    same = client.post(
        "/api/v1/listen", json={"text": "Who wrote this?", "site": "news.example"}, headers=headers
    )
    left_out = client.post("/api/v1/listen", json={"text": "Who wrote this?"}, headers=headers)
    assert same.status_code == left_out.status_code == 202
    job = left_out.get_json()
    assert same.get_json()["id"] == job["id"]  # one request, one audio
    worker = start_worker(keyed_app, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 90
        while job["status"] != "ready" and time.monotonic() < deadline:
            job = client.get(f"{job['status_url']}?wait=5").get_json()
    finally:
        worker.stop()
    assert job["status"] == "ready", job
    entry = keyed_app.extensions["listen_cache"].get(job["id"])
    tags = ffprobe(entry.audio_path)["format"]["tags"]
    assert tags["artist"] == "news.example"
