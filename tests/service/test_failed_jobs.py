"""What clients are told of a job that failed, against a real worker whose encoder breaks.

A failed job's body, however it is read (status, long poll, event stream),
offers no link to audio that was never made, and its error is the code and
the fixed public message, never the recorded detail (ffmpeg's output, the
attempts), which stays for operators.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from listen_service.errors import JOB_ERROR_MESSAGES
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_ops_jobs import break_encoder

LINKS = ("audio_url", "timings_url", "embed_url", "embed_html")


def _last_status_event(stream: str) -> dict[str, Any]:
    events = [b for b in stream.split("\n\n") if "event: status\n" in b]
    data = events[-1].split("data: ", 1)[1]
    return json.loads(data)  # type: ignore[no-any-return]


def test_a_failed_job_has_no_audio_links_and_only_the_public_message(
    app: Flask, server: str, tmp_path: Path
) -> None:
    break_encoder(app, tmp_path)
    client = app.test_client()
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        posted = client.post(
            "/api/v1/listen", json={"text": "This encoder is on fire. Nothing comes out."}
        ).get_json()
        assert all(posted[k] for k in LINKS), posted  # offered while the job may yet succeed
        failed = wait_ready(client, posted["status_url"], timeout=60)
    finally:
        worker.stop()

    record = app.extensions["listen_jobs"].get(posted["id"])
    assert "encoder on fire" in record.error["message"]  # kept for operators
    code = record.error["code"]
    with urllib.request.urlopen(f"{server}/api/v1/jobs/{posted['id']}/events") as response:
        streamed = _last_status_event(response.read().decode())
    polled = client.get(f"/api/v1/jobs/{posted['id']}?wait=5").get_json()
    for body in (failed, polled, streamed):
        assert body["status"] == "failed"
        # The same link (the stream's names the server's host, the client's localhost).
        assert urlsplit(body["status_url"]).path == urlsplit(posted["status_url"]).path
        assert [k for k in LINKS if k in body] == [], body
        assert body["error"] == {"code": code, "message": JOB_ERROR_MESSAGES[code]}
        assert "fire" not in json.dumps(body) and "attempt" not in json.dumps(body)
    # Not a link withheld for nothing: the audio is not there.
    assert client.get(posted["audio_url"]).status_code == 404
