"""Logs an operator can follow: the job id on every line about a job, JSON on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask

from listen_service.config import to_env
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_ops_jobs import broken_encoder


def json_lines(text: str) -> list[dict[str, Any]]:
    """The log lines from the worker's "ready." to its shutdown notice, each parsed.

    Celery prints its start banner and shutdown notices itself (not through
    logging): those are the only lines left out."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if " ready." in line)
    end = next((i for i, line in enumerate(lines) if "Warm shutdown" in line), len(lines))
    return [json.loads(line) for line in lines[start:end] if line.strip()]


def test_json_worker_logs_name_the_job_and_each_retry(app: Flask, tmp_path: Path) -> None:
    app.config["LISTEN_LOG_FORMAT"] = "json"
    app.config["LISTEN_FFMPEG"] = str(broken_encoder(tmp_path))
    app.config["LISTEN_TASK_MAX_RETRIES"] = 1
    client = app.test_client()
    w = start_worker(app, tmp_path / "worker.log")
    try:
        body = client.post("/api/v1/listen", json={"text": "Logged, line by line."}).get_json()
        assert wait_ready(client, body["status_url"], timeout=60)["status"] == "failed"
        # The record fails before Celery's main process logs the task's exception:
        # wait for that line rather than stop the worker first.
        deadline = time.monotonic() + 30
        while "EncoderError" not in w.text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        w.stop()
    lines = json_lines(w.text())
    assert {"time", "level", "logger", "message", "process"} <= set(lines[0])
    about = [line for line in lines if line.get("job_id") == body["id"]]
    messages = [line["message"] for line in about]
    # Celery's own lines about the task are tagged with the job too.
    assert sum("received" in m for m in messages) == 2
    assert any(
        m.startswith("attempt 1 failed (encoder_failed") and "retry 1 of 1" in m for m in messages
    )
    assert any(
        m.startswith("attempt 2 failed (encoder_failed") and "giving up" in m for m in messages
    )
    assert [line["level"] for line in about if "giving up" in line["message"]] == ["ERROR"]
    assert any("exc" in line and "EncoderError" in line["exc"] for line in about)


def test_text_worker_logs_tag_lines_about_a_job(app: Flask, tmp_path: Path) -> None:
    app.config["LISTEN_FFMPEG"] = str(broken_encoder(tmp_path))
    app.config["LISTEN_TASK_MAX_RETRIES"] = 0
    client = app.test_client()
    w = start_worker(app, tmp_path / "worker.log")
    try:
        body = client.post("/api/v1/listen", json={"text": "Tagged lines."}).get_json()
        assert wait_ready(client, body["status_url"], timeout=60)["status"] == "failed"
    finally:
        w.stop()
    [line] = [x for x in w.text().splitlines() if "giving up" in x]
    assert line.endswith(f"[job={body['id']}]")


WEB_SCRIPT = """
import logging
from listen_service import create_app
from workers.logs import job_context

app = create_app()
with job_context("ab" * 32, "news.example"):
    app.logger.warning("about a job: %s", "«quoted»")
    logging.getLogger("listen_service.jobflow").error("a module's line")
try:
    raise ValueError("boom")
except ValueError:
    app.logger.exception("not about a job")
"""


def test_json_web_logs_are_one_object_a_line(app: Flask) -> None:
    env = {**os.environ, **to_env(app.config), "LISTEN_LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-c", WEB_SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(x["message"], x.get("job_id"), x.get("site")) for x in lines] == [
        ("about a job: «quoted»", "ab" * 32, "news.example"),
        ("a module's line", "ab" * 32, "news.example"),
        ("not about a job", None, None),
    ]
    assert "ValueError: boom" in lines[2]["exc"]
