"""`listen-service serve` survives bad broker files and dead workers, and leaves none behind.

Each test runs the real command, as the README does, with the embedded broker
unless it says otherwise.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from listen_service.config import load
from listen_service.procfs import alive, is_worker_of, parent_of
from listen_service.run import worker_command, worker_env
from tests.promtext import value
from tests.service.conftest import REDIS_URL


def workers_of(data_dir: Path) -> list[int]:
    """Every live Celery worker process (main or pool) of ``data_dir`` on this machine."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and is_worker_of(int(entry), data_dir) and alive(int(entry)):
            found.append(int(entry))
    return found


def wait_for(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path
    url: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        """``path`` on this server, or an absolute URL it gave."""
        url = path if path.startswith("http") else self.url + path
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def health(self) -> dict[str, Any]:
        status, body = self.get("/healthz")
        assert status == 200, body
        report: dict[str, Any] = json.loads(body)
        return report

    def worker_pid(self) -> int:
        """The general worker's (both lanes)."""
        return int((self.data_dir / "serve-worker.pid").read_text().split()[0])

    def readers_pid(self) -> int:
        """The readers' worker's (the interactive lane alone)."""
        return int((self.data_dir / "serve-worker-readers.pid").read_text().split()[0])

    def post(self, text: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + "/api/v1/listen",
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            job: dict[str, Any] = json.load(response)
        return job

    def synthesise(self, text: str, timeout: float = 120) -> dict[str, Any]:
        """POST ``text`` and follow the job until it is ready or failed."""
        return self.follow(self.post(text), timeout)

    def status(self, job: dict[str, Any]) -> dict[str, Any]:
        code, body = self.get(job["status_url"])
        assert code == 200, body
        now: dict[str, Any] = json.loads(body)
        return now

    def follow(self, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while job["status"] not in ("ready", "failed") and time.monotonic() < deadline:
            with urllib.request.urlopen(f"{job['status_url']}?wait=10", timeout=30) as r:
                job = json.load(r)
        return job

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launch(data_dir: Path, log: Path, *args: str, **settings: str) -> Serve:
    env = {**os.environ, "LISTEN_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("LISTEN_BROKER_URL", None)
    env |= settings
    handle = log.open("ab")
    cmd = [sys.executable, "-m", "listen_service.cli", "serve", *(args or ("--port", "0"))]
    proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    handle.close()
    return Serve(proc, log, data_dir)


def start(data_dir: Path, log: Path, **settings: str) -> Serve:
    """``serve`` on a free port, once it says where it runs."""
    serve = launch(data_dir, log, **settings)

    def started() -> re.Match[str] | None:
        if serve.proc.poll() is not None:
            pytest.fail(f"serve exited with {serve.proc.returncode}:\n{serve.text()}")
        return re.search(r"Listen is running at (http://\S+)", serve.text())

    found = wait_for("serve to start", started)
    serve.url = found.group(1).rstrip("/")
    return serve


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    yield data
    # Whatever a test did, no worker of its data dir outlives it.
    for pid in workers_of(data):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serve(data_dir: Path, tmp_path: Path) -> Iterator[Serve]:
    running = start(data_dir, tmp_path / "serve.log")
    yield running
    running.stop()
    if running.proc.poll() is None:
        running.proc.kill()


HALF_WRITTEN = b'{"body": "W1siU2VydmVkIl0sIHt9LCB7ImNhbGxiYWNrcyI6IG51bGx9XQ==", "content-enc'


@pytest.mark.parametrize("content", [b"", HALF_WRITTEN], ids=["empty", "half-written"])
def test_a_corrupt_message_is_quarantined_and_the_service_stays_up(
    serve: Serve, data_dir: Path, content: bytes
) -> None:
    assert serve.synthesise("Before the bad file.")["status"] == "ready"
    worker = serve.worker_pid()
    assert serve.health()["broker_quarantined"] == 0

    bad = data_dir / "broker" / "queue" / f"{int(time.time() * 1000)}_x.listen.msg"
    bad.write_bytes(content)

    wait_for("the file to be quarantined", lambda: serve.health()["broker_quarantined"] == 1)
    assert (data_dir / "broker" / "quarantine" / bad.name).read_bytes() == content
    assert not bad.exists()
    status, metrics = serve.get("/metrics")
    assert status == 200 and value(metrics.decode(), "listen_broker_quarantined") == 1
    assert f"quarantined unreadable broker file {bad.name}" in serve.text()
    assert serve.synthesise("After the bad file.")["status"] == "ready"
    # Survived by the worker itself, not by restarting it.
    assert serve.worker_pid() == worker and alive(worker)
    assert "exited with status" not in serve.text()
    assert serve.proc.poll() is None


@pytest.mark.parametrize("broker", ["embedded", "redis"])
def test_a_killed_worker_is_started_again(
    data_dir: Path, tmp_path: Path, broker: str, request: pytest.FixtureRequest
) -> None:
    settings = {}
    if broker == "redis":
        client = request.getfixturevalue("redis_client")
        client.flushdb()
        request.addfinalizer(client.flushdb)
        settings["LISTEN_BROKER_URL"] = REDIS_URL
    serve = start(data_dir, tmp_path / "serve.log", **settings)
    request.addfinalizer(serve.stop)
    # Texts of their own, so no job record of an earlier run can answer for them.
    nonce = uuid.uuid4().hex[:8]
    assert serve.synthesise(f"Before the worker dies, {nonce}.")["status"] == "ready"
    first = serve.worker_pid()
    pool = [pid for pid in workers_of(data_dir) if parent_of(pid) == first]
    assert pool, "the worker has no pool process"
    readers = serve.readers_pid()

    os.kill(first, signal.SIGKILL)

    wait_for("a new worker", lambda: serve.worker_pid() != first and alive(serve.worker_pid()))
    assert re.search(rf"worker \(pid {first}\) exited with status -9 \(SIGKILL\)", serve.text())
    assert serve.health()["status"] == "ok"
    assert serve.synthesise(f"After the worker died, {nonce}.")["status"] == "ready"
    assert not [pid for pid in [first, *pool] if alive(pid)]
    # The readers' worker, supervised on its own, was not touched.
    assert serve.readers_pid() == readers and alive(readers)
    assert serve.proc.poll() is None


ARTICLE = Path(__file__).resolve().parents[1] / "fixtures" / "hktdc-beijing-symposium.txt"


def test_the_job_a_killed_worker_held_is_delivered_to_the_next(
    data_dir: Path, tmp_path: Path
) -> None:
    # A dead worker's lease on the job lasts this long (seconds).
    serve = start(data_dir, tmp_path / "serve.log", LISTEN_STALE_SECONDS="3")
    try:
        job = serve.post((ARTICLE.read_text() + "\n\n") * 4)
        wait_for("the job to start", lambda: serve.status(job)["status"] == "working")
        worker = serve.worker_pid()
        os.kill(worker, signal.SIGKILL)

        wait_for("a new worker", lambda: serve.worker_pid() != worker)
        wait_for(
            "the held message to be returned to the queue",
            lambda: "returned 1 broker message(s) to the queue" in serve.text(),
        )
        assert serve.follow(job, timeout=240)["status"] == "ready"
    finally:
        serve.stop()


def test_kill_9_of_serve_takes_its_worker_and_a_new_serve_starts_clean(
    data_dir: Path, tmp_path: Path
) -> None:
    first = start(data_dir, tmp_path / "first.log")
    try:
        assert first.synthesise("Served once.")["status"] == "ready"
        workers = workers_of(data_dir)
        assert len(workers) >= 4, "expected two workers and their pool processes"
        assert {first.worker_pid(), first.readers_pid()} <= set(workers)
        first.proc.kill()
        first.proc.wait()
        wait_for("the orphaned worker to stop", lambda: not workers_of(data_dir), timeout=30)
    finally:
        first.proc.kill()

    second = start(data_dir, tmp_path / "second.log")
    try:
        assert second.synthesise("Served again.")["status"] == "ready"
        assert workers_of(data_dir) and second.worker_pid() not in workers
    finally:
        second.stop()
    assert second.proc.returncode == 0
    assert not workers_of(data_dir)
    assert not (data_dir / "serve-worker.pid").exists()
    assert not (data_dir / "serve-worker-readers.pid").exists()


def celery_worker(data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """A worker started as serve starts one, but by nobody that will stop it; once ready."""
    config = load({"LISTEN_DATA_DIR": str(data_dir)}, env={})
    env = worker_env({**os.environ, "LISTEN_DATA_DIR": str(config["LISTEN_DATA_DIR"])})
    env.pop("LISTEN_BROKER_URL", None)
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            worker_command(config, 1, "INFO"),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,
        )
    wait_for("the worker to be ready", lambda: " ready." in log.read_text(errors="replace"))
    return proc


def a_dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("pidfile", ["serve-worker.pid", "serve-worker-readers.pid"])
def test_serve_stops_a_worker_orphaned_in_its_data_dir_and_nothing_else(
    data_dir: Path, tmp_path: Path, pidfile: str
) -> None:
    orphan = celery_worker(data_dir, tmp_path / "orphan.log")
    other_dir = tmp_path / "other"
    bystander = celery_worker(other_dir, tmp_path / "bystander.log")
    try:
        orphaned = workers_of(data_dir)
        assert orphan.pid in orphaned and len(orphaned) >= 2
        (data_dir / pidfile).write_text(f"{orphan.pid} {a_dead_pid()}\n")

        serve = start(data_dir, tmp_path / "serve.log")
        try:
            assert f"stopping the worker (pid {orphan.pid})" in serve.text()
            orphan.wait(30)
            assert not [pid for pid in orphaned if alive(pid)]
            assert serve.synthesise("Served after the orphan.")["status"] == "ready"
        finally:
            serve.stop()
        assert bystander.poll() is None and workers_of(other_dir)
    finally:
        for proc in (orphan, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in workers_of(other_dir):
            os.kill(pid, signal.SIGKILL)


def test_a_pidfile_naming_another_process_is_left_alone(data_dir: Path, tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "300"])
    try:
        data_dir.mkdir(parents=True)
        (data_dir / "serve-worker.pid").write_text(f"{other.pid} {a_dead_pid()}\n")
        serve = start(data_dir, tmp_path / "serve.log")
        serve.stop()
        assert "stopping the worker" not in serve.text()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_serve_on_a_busy_port_fails_clearly_and_leaves_no_worker(
    data_dir: Path, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        serve = launch(data_dir, tmp_path / "serve.log", "--port", str(port))
        assert serve.proc.wait(60) != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in serve.text()
    assert not workers_of(data_dir)
    assert not (data_dir / "serve-worker.pid").exists()
