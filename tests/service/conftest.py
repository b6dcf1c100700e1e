"""Real processes for the service tests: a Celery worker (prefork), Redis, an HTTP server.

Every scenario runs twice: ``embedded`` (kombu's filesystem broker, file job
store) and ``redis`` (a real Redis server carrying queue, jobs and locks).
A missing Redis fails the tests; it is never skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from werkzeug.serving import make_server

from listen_service import create_app
from listen_service.config import next_db, to_env
from listen_service.run import worker_command, worker_env

REDIS_URL = os.environ.get("LISTEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
# Where the job records go by default in Redis mode: the broker's DB + 1.
JOBS_REDIS_URL = next_db(REDIS_URL)


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} (.ci/run starts it): {exc}")
    return client


@pytest.fixture(params=["embedded", "redis"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def service_config(mode: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_STALE_SECONDS": 30}
    if mode == "redis":
        for client in (
            request.getfixturevalue("redis_client"),
            redis.Redis.from_url(JOBS_REDIS_URL),
        ):
            client.flushdb()
            request.addfinalizer(client.flushdb)
        config["LISTEN_BROKER_URL"] = REDIS_URL
    return config


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app(service_config)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def syntheses(self, job_id: str) -> int:
        return self.text().count(f"synthesised {job_id}")

    def pool_children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # A pool process that died in native code is replaced and its job
        # re-driven, so the test may still pass: say so here instead.
        # (faulthandler, enabled by workers.celery_app, writes this line.)
        log = self.text()
        crash = log.find("Fatal Python error")
        assert crash < 0, f"a worker process crashed:\n{log[crash : crash + 3000]}"


def start_worker(
    app: Flask, log: Path, concurrency: int = 1, lanes: str = "all", node: str | None = None
) -> Worker:
    """A real ``celery worker`` process with the app's settings, of ``lanes``
    (``listen-service worker --lanes``); waits until it is ready and each of its
    pool processes is in the worker registry (so ``/healthz`` counts it)."""
    env = worker_env({**os.environ, "PYTHONUNBUFFERED": "1", **to_env(app.config)})
    cmd = worker_command(app.config, concurrency, "INFO", lanes, node)
    handle = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    handle.close()
    worker = Worker(proc, log)
    deadline = time.monotonic() + 60
    while " ready." not in worker.text():
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the Celery worker did not start:\n{worker.text()[-3000:]}")
        time.sleep(0.1)
    # Ready, and counted: each pool process has written its first heartbeat
    # (it does so as it starts, which Celery's " ready." does not wait for).
    registry = app.extensions["listen_workers"]
    while True:
        children = set(worker.pool_children())
        if children and children <= {e.pid for e in registry.entries()}:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the worker's processes sent no heartbeat:\n{worker.text()[-3000:]}")
        time.sleep(0.1)
    return worker


@pytest.fixture
def worker(app: Flask, tmp_path: Path) -> Iterator[Worker]:
    w = start_worker(app, tmp_path / "worker.log", concurrency=2)
    yield w
    w.stop()


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.port}"
    httpd.shutdown()
    thread.join(10)


def python() -> str:
    return sys.executable


@pytest.fixture
def redis_client_or_none(mode: str, request: pytest.FixtureRequest) -> redis.Redis | None:
    return request.getfixturevalue("redis_client") if mode == "redis" else None
