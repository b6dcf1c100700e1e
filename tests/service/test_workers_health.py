"""Worker heartbeats, ``/api/v1/ops/workers``, ``listen-service workers`` and honest
``/healthz``, with real worker processes in both modes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from listen_service import create_app
from listen_service.config import to_env
from tests.promtext import value
from tests.service.conftest import start_worker

TOKEN = "operator-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STALE_S = 4.0


@pytest.fixture
def service_config(service_config: dict[str, Any]) -> dict[str, Any]:
    return {
        **service_config,
        "LISTEN_OPS_TOKEN": TOKEN,
        "LISTEN_WORKER_HEARTBEAT_SECONDS": 0.5,
        "LISTEN_WORKER_STALE_SECONDS": STALE_S,
    }


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what}: not after {timeout} s")


def listed(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/ops/workers", headers=AUTH)
    assert response.status_code == 200
    workers: list[dict[str, Any]] = response.get_json()["workers"]
    return workers


def alive_pids(client: FlaskClient) -> set[int]:
    return {w["pid"] for w in listed(client) if w["alive"]}


def cli(app: Flask, *args: str) -> str:
    """``listen-service workers ARGS`` with the app's settings; its standard output."""
    env = {**os.environ, **to_env(app.config)}
    out = subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "workers", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return out.stdout


def cli_workers(app: Flask) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(cli(app, "--json"))
    return found


def test_workers_appear_when_started_and_go_when_stopped_or_killed(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["workers"]["alive"] == 0
    assert client.get("/livez").status_code == 200
    assert cli_workers(app) == []

    general = start_worker(app, tmp_path / "general.log", concurrency=2, node="general")
    readers = start_worker(app, tmp_path / "readers.log", lanes="interactive", node="readers")
    try:
        pool = set(general.pool_children()) | set(readers.pool_children())
        assert len(pool) == 3
        wait_for("every pool process listed alive", lambda: alive_pids(client) == pool)
        host = socket.gethostname()
        by_pid = {w["pid"]: w for w in listed(client)}
        for pid in general.pool_children():
            assert by_pid[pid]["node"] == f"general@{host}"
            assert by_pid[pid]["concurrency"] == 2
            assert by_pid[pid]["lanes"] == ["listen", "listen.bulk", "listen.neural"]
        for pid in readers.pool_children():
            assert by_pid[pid]["node"] == f"readers@{host}"
            assert (by_pid[pid]["concurrency"], by_pid[pid]["lanes"]) == (1, ["listen"])
        assert all(w["host"] == host and w["job"] is None for w in by_pid.values())

        health = client.get("/healthz")
        assert health.status_code == 200, health.get_json()
        assert health.get_json()["workers"]["alive"] == 3
        assert health.get_json()["workers"]["nodes"] == [f"general@{host}", f"readers@{host}"]
        assert {w["pid"] for w in cli_workers(app) if w["alive"]} == pool
        lines = cli(app).splitlines()
        assert len(lines) == 3 and all(line.startswith("alive ") for line in lines)
        assert sum(f"readers@{host}" in line and "idle" in line for line in lines) == 1

        # kill -9 of the whole readers worker, main and pool processes at once (as the
        # OOM killer or a lost machine would): no cleanup runs, the entries go stale.
        doomed = readers.pool_children()
        for pid in (readers.proc.pid, *doomed):
            os.kill(pid, signal.SIGKILL)
        readers.proc.wait()
        wait_for(
            "the killed worker no longer alive", lambda: alive_pids(client) == pool - set(doomed)
        )
        gone = [w for w in listed(client) if w["pid"] in doomed]
        assert len(gone) == 1
        assert not gone[0]["alive"] and gone[0]["heartbeat_age_s"] >= STALE_S
        assert client.get("/healthz").status_code == 200

        # A clean stop removes the entries at once: nothing left alive, and /healthz says so.
        general.stop()
        assert {w["pid"] for w in listed(client)} == set(doomed)
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["workers"]["alive"] == 0
        assert health.get_json()["workers"]["stale"] == len(doomed)
    finally:
        general.stop()
        readers.stop()


def test_pool_processes_of_a_worker_killed_alone_stop_counting(app: Flask, tmp_path: Path) -> None:
    """``kill -9`` of a worker's main process only: its pool processes stop beating
    (or exit) even if they linger, so the worker leaves the alive list."""
    client = app.test_client()
    worker = start_worker(app, tmp_path / "worker.log")
    pool = worker.pool_children()
    assert alive_pids(client) == set(pool)
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait()
    try:
        wait_for("its pool process no longer alive", lambda: not alive_pids(client))
        assert client.get("/healthz").status_code == 503
    finally:
        for pid in pool:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_running_job_is_shown_on_its_worker(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        text = "A long article, read out slowly so that it is still running when we look. " * 150
        job = client.post("/api/v1/listen", json={"text": text}).get_json()

        def running() -> list[dict[str, Any]]:
            return [w for w in listed(client) if w["job"] == job["id"]]

        (entry,) = wait_for("the job shown on its worker", running)
        assert entry["pid"] in worker.pool_children()
        assert entry["job_since"] >= entry["started"]
    finally:
        worker.stop()


@pytest.fixture
def broken_ffmpeg(tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "ffmpeg"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho 'ffmpeg: broken on purpose' >&2\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_healthz_is_503_when_most_recent_jobs_failed(
    service_config: dict[str, Any], broken_ffmpeg: Path, tmp_path: Path
) -> None:
    app = create_app(
        {**service_config, "LISTEN_FFMPEG": str(broken_ffmpeg), "LISTEN_TASK_MAX_RETRIES": 0}
    )
    client = app.test_client()
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        wait_for("the worker alive", lambda: client.get("/healthz").status_code == 200)
        ids = []
        for n in range(5):
            posted = client.post("/api/v1/listen", json={"text": f"Article number {n}."})
            assert posted.status_code == 202
            ids.append(posted.get_json()["id"])
            # One ended job short of the minimum, health says nothing of the rate yet.
            if n == 3:
                wait_for(
                    "four jobs failed",
                    lambda: all(
                        client.get(f"/api/v1/jobs/{i}").get_json()["status"] == "failed"
                        for i in ids
                    ),
                )
                wait_for(
                    "four failures counted",
                    lambda: client.get("/healthz").get_json()["recent_jobs"]["ended"] == 4,
                )
                assert client.get("/healthz").status_code == 200

        def failing() -> dict[str, Any] | None:
            health = client.get("/healthz")
            return health.get_json() if health.status_code == 503 else None

        report = wait_for("/healthz 503 for the failures", failing)
        assert report["workers"]["alive"] == 1
        assert report["recent_jobs"]["ended"] == report["recent_jobs"]["failed"] == 5
        assert report["recent_jobs"]["failure_rate"] == 1.0
        assert report["status"] == "unavailable"
        metrics = client.get("/metrics").get_data(as_text=True)
        assert value(metrics, "listen_up") == 0
    finally:
        worker.stop()


@pytest.mark.parametrize(
    ("token", "headers", "status", "code"),
    [
        ("", AUTH, 404, "ops_disabled"),
        (TOKEN, {}, 401, "missing_ops_token"),
        (TOKEN, {"Authorization": "Bearer not-the-operator-token"}, 403, "wrong_ops_token"),
    ],
)
def test_the_worker_list_needs_the_operator_token(
    service_config: dict[str, Any], token: str, headers: dict[str, str], status: int, code: str
) -> None:
    app = create_app({**service_config, "LISTEN_OPS_TOKEN": token})
    response = app.test_client().get("/api/v1/ops/workers", headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_livez_answers_without_looking_at_anything(service_config: dict[str, Any]) -> None:
    # Broker and job store unreachable, no worker: the web process itself still works.
    app = create_app({**service_config, "LISTEN_BROKER_URL": "redis://127.0.0.1:1/0"})
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    assert client.get("/livez").get_json() == {"status": "ok"}
    assert client.get("/healthz").status_code == 503
