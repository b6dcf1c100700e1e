"""Operators steer jobs: list, retry, cancel, against real workers in both modes.

A job made to fail (an encoder that exits 1) is listed under ``failed`` with
its reason; retried once the encoder is fixed it ends in ready audio; a long
working job cancelled stops and leaves nothing in the cache; the operator
token is required on every route; the CLI does the same on the same stores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from listen_service.config import to_env
from tests.conftest import no_temp_files
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready

TOKEN = "operator-token-of-the-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ARTICLE = Path(__file__).parents[1] / "fixtures" / "hktdc-beijing-symposium.txt"


@pytest.fixture
def ops_app(app: Flask) -> Flask:
    app.config["LISTEN_OPS_TOKEN"] = TOKEN
    return app


def broken_encoder(folder: Path) -> Path:
    script = folder / "ffmpeg"
    script.write_text("#!/bin/sh\necho 'encoder on fire' >&2\nexit 1\n")
    script.chmod(0o755)
    return script


def break_encoder(app: Flask, folder: Path) -> str:
    """Make ``app``'s workers' encoder fail, with no retry; the working encoder."""
    working: str = app.config["LISTEN_FFMPEG"]
    app.config["LISTEN_FFMPEG"] = str(broken_encoder(folder))
    app.config["LISTEN_TASK_MAX_RETRIES"] = 0
    return working


def ops_list(client: FlaskClient, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/ops/jobs{query}", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == len(body["jobs"])
    return body["jobs"]  # type: ignore[no-any-return]


def test_a_failed_job_is_listed_with_its_reason_and_a_retry_once_fixed_makes_audio(
    ops_app: Flask, tmp_path: Path
) -> None:
    app = ops_app
    client = app.test_client()
    working_encoder = break_encoder(app, tmp_path)
    text = "The encoder of this article is broken. Then it is fixed."
    w = start_worker(app, tmp_path / "broken.log")
    try:
        body = client.post("/api/v1/listen", json={"text": text, "title": "Fixed later"}).get_json()
        assert wait_ready(client, body["status_url"], timeout=60)["status"] == "failed"
    finally:
        w.stop()

    [job] = ops_list(client, "?status=failed")
    assert (job["id"], job["title"], job["chars"], job["attempts"]) == (
        body["id"],
        "Fixed later",
        len(text),
        1,
    )
    assert job["error"]["code"] == "encoder_failed"
    assert "encoder on fire" in job["error"]["message"]  # operators get the detail
    assert "gave up after 1 attempts" in job["error"]["message"]
    assert job["age_s"] >= 0 and job["synthesis_s"] is None
    assert ops_list(client, "?status=ready") == []
    assert ops_list(client, "?status=failed&site=elsewhere") == []

    app.config["LISTEN_FFMPEG"] = working_encoder
    w = start_worker(app, tmp_path / "fixed.log")
    try:
        retried = client.post(f"/api/v1/ops/jobs/{body['id']}/retry", headers=AUTH)
        assert retried.status_code == 202
        assert retried.get_json()["job"]["status"] in ("queued", "working", "ready")
        done = wait_ready(client, body["status_url"], timeout=120)
    finally:
        w.stop()
    assert done["status"] == "ready"
    assert app.extensions["listen_cache"].get(body["id"]) is not None
    [job] = ops_list(client, "?status=ready")
    assert (job["attempts"], job["error"]) == (1, None)
    assert job["synthesis_s"] > 0 and job["duration_s"] > 0
    again = client.post(f"/api/v1/ops/jobs/{body['id']}/retry", headers=AUTH)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "not_failed"


def test_cancel_stops_a_long_working_job_and_nothing_is_cached(
    ops_app: Flask, tmp_path: Path
) -> None:
    app = ops_app
    client = app.test_client()
    text = "\n\n".join([ARTICLE.read_text()] * 12)
    w = start_worker(app, tmp_path / "worker.log")
    try:
        body = client.post("/api/v1/listen", json={"text": text}).get_json()
        job_id = body["id"]
        deadline = time.monotonic() + 120
        while (state := client.get(body["status_url"]).get_json())["progress"] < 0.05:
            assert state["status"] in ("queued", "working") and time.monotonic() < deadline
            time.sleep(0.05)
        cancelled = client.post(f"/api/v1/ops/jobs/{job_id}/cancel", headers=AUTH)
        asked = time.time()
        assert cancelled.status_code == 202, cancelled.get_json()
        assert cancelled.get_json()["job"]["cancel_requested"] is True
        final = wait_ready(client, body["status_url"], timeout=60)
        record = app.extensions["listen_jobs"].get(job_id)
        print(f"cancel: stopped {record.updated - asked:.3f} s after it was asked")
        assert final["status"] == "failed"
        assert record.error["code"] == "cancelled" and record.progress < 0.99
        assert w.syntheses(job_id) == 0
        assert "cancelled by an operator; stopped" in w.text()
        cache = app.extensions["listen_cache"]
        assert cache.get(job_id) is None
        data = Path(app.config["LISTEN_DATA_DIR"])
        assert no_temp_files(data) == []
        assert not cache.live_path(job_id, "mp3").exists()
        stray = [p for p in data.rglob(f"{job_id}*") if "jobs" not in p.relative_to(data).parts]
        assert stray == []
        # Cancelling again is refused; posting again later is not.
        again = client.post(f"/api/v1/ops/jobs/{job_id}/cancel", headers=AUTH)
        assert again.status_code == 409
        assert again.get_json()["error"]["code"] == "not_cancellable"
        reposted = client.post("/api/v1/listen", json={"text": text})
        assert reposted.status_code == 202
        assert reposted.get_json()["status"] in ("queued", "working")
        assert client.post(f"/api/v1/ops/jobs/{job_id}/cancel", headers=AUTH).status_code in (
            200,
            202,
        )
        wait_ready(client, body["status_url"], timeout=60)
    finally:
        w.stop()


def test_cancel_of_a_queued_job_fails_it_and_its_message_is_dropped(
    ops_app: Flask, tmp_path: Path
) -> None:
    client = ops_app.test_client()
    body = client.post("/api/v1/listen", json={"text": "Nobody will read this."}).get_json()
    cancelled = client.post(f"/api/v1/ops/jobs/{body['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["job"]["status"] == "failed"
    assert cancelled.get_json()["job"]["error"]["code"] == "cancelled"
    w = start_worker(ops_app, tmp_path / "worker.log")  # gets the message now
    try:
        w2 = client.post("/api/v1/listen", json={"text": "A later job, read."}).get_json()
        assert wait_ready(client, w2["status_url"], timeout=60)["status"] == "ready"
    finally:
        w.stop()
    assert w.syntheses(body["id"]) == 0
    assert ops_app.extensions["listen_cache"].get(body["id"]) is None


ROUTES = [
    ("get", "/api/v1/ops/jobs"),
    ("post", "/api/v1/ops/jobs/" + "ab" * 32 + "/retry"),
    ("post", "/api/v1/ops/jobs/" + "ab" * 32 + "/cancel"),
]


def assert_operator_only(app: Flask, call: Callable[..., TestResponse], path: str) -> None:
    """Off (404) without a configured token, then 401 without one and 403 with a wrong one,
    in the JSON error shape; leaves the token configured."""
    off = call(path, headers=AUTH)
    assert (off.status_code, off.get_json()["error"]["code"]) == (404, "ops_disabled")
    app.config["LISTEN_OPS_TOKEN"] = TOKEN
    missing = call(path)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (401, "missing_ops_token")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = call(path, headers={"Authorization": "Bearer " + "x" * 32})
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (403, "wrong_ops_token")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_the_operator_token_is_required(app: Flask, method: str, path: str) -> None:
    call = getattr(app.test_client(), method)
    assert_operator_only(app, call, path)
    right = call(path, headers=AUTH)
    assert right.status_code in (200, 404)  # listed, or no such job
    assert set(right.get_json()) <= {"jobs", "count", "error"}


def test_bad_list_arguments_get_400(ops_app: Flask) -> None:
    client = ops_app.test_client()
    for query, code in [
        ("?status=lost", "invalid_status"),
        ("?limit=0", "invalid_limit"),
        ("?limit=many", "invalid_limit"),
    ]:
        response = client.get(f"/api/v1/ops/jobs{query}", headers=AUTH)
        assert (response.status_code, response.get_json()["error"]["code"]) == (400, code)


def cli(app: Flask, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **to_env(app.config)}
    return subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "jobs", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_cli_lists_retries_and_cancels_on_the_same_stores(ops_app: Flask) -> None:
    store = ops_app.extensions["listen_jobs"]
    client = ops_app.test_client()
    body = client.post("/api/v1/listen", json={"text": "Failed by hand.", "title": "T"}).get_json()
    job_id = body["id"]
    store.start(job_id, "w1")
    store.fail(job_id, "encoder_failed", "gave up after 1 attempts: exit 1")

    listed = cli(ops_app, "list", "--status", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["title"], row["error"]["code"]) == (job_id, "T", "encoder_failed")
    table = cli(ops_app, "list")
    assert table.returncode == 0 and job_id[:12] in table.stdout
    assert "encoder_failed: gave up after 1 attempts" in table.stdout

    retried = cli(ops_app, "retry", job_id, "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "queued"
    assert store.get(job_id).status == "queued"  # and its message is in the broker:
    assert job_id in ops_app.extensions["listen_broker"].waiting([job_id])

    refused = cli(ops_app, "retry", job_id)
    assert refused.returncode == 1 and "not_failed" in refused.stderr
    cancelled = cli(ops_app, "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    job = store.get(job_id)
    assert job.status == "failed" and job.error["code"] == "cancelled"
    assert cli(ops_app, "cancel", "ab" * 32).returncode == 1
    bad = cli(ops_app, "list", "--limit", "0")
    assert bad.returncode == 2 and "invalid_limit" in bad.stderr
