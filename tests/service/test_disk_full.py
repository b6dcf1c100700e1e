"""A full disk under the data directory (a real, small tmpfs): clear 507/503, nothing
half-written served or left behind, workers that survive, recovery once space is freed."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from listen_service.config import to_env
from listen_service.storage import shortage
from tests.conftest import ffprobe
from tests.service.conftest import Worker, start_worker
from workers.jobs import FileJobStore

DISK_BYTES = 16 * 1024 * 1024
FLOOR = 2 * 1024 * 1024


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_BYTES`` mounted at ``path`` (created) for the duration."""
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the data directory (root needed): {mounted.stderr}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def service_config(service_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The usual settings, with the data directory on a small tmpfs."""
    with small_disk(Path(service_config["LISTEN_DATA_DIR"])):
        # One retry: a full disk is retried like any transient failure, and the
        # tests need not wait through the default backoff.
        yield {**service_config, "LISTEN_MIN_FREE_BYTES": FLOOR, "LISTEN_TASK_MAX_RETRIES": 1}


def test_a_lease_taken_on_a_full_disk_is_held_and_released(tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as data:
        store = FileJobStore(data)
        job_id = "ab" * 32
        assert store.accept(job_id, {"text": "x"})
        filler = fill(data)
        lease = store.lease(job_id, "worker-1", 30)
        assert lease is not None
        with lease, pytest.raises(OSError):
            store.start(job_id, "worker-1")  # the record cannot be written
        # Released: another process (or this one, retrying) can take it.
        again = store.lease(job_id, "worker-2", 30)
        assert again is not None
        again.release()
        filler.unlink()


def fill(data: Path, leave: int = 0) -> Path:
    """Write a filler file until the disk is full, then give back ``leave`` bytes."""
    filler = data / "filler"
    block = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def debris(data: Path) -> list[Path]:
    """Files that only a write cut short leaves: temp files, empty broker messages."""
    temps = list(data.rglob(".tmp-*"))
    empty_messages = [p for p in data.glob("broker/queue/*.msg") if p.stat().st_size == 0]
    return temps + empty_messages


def audio_files(data: Path) -> list[Path]:
    return [p for p in (data / "audio").rglob("*") if p.is_file() and p.name != ".lock"]


@pytest.fixture
def worker(app: Flask, tmp_path: Path) -> Iterator[Worker]:
    # Also for the health checks: /healthz is 503 without a live worker.
    w = start_worker(app, tmp_path / "worker.log")
    yield w
    w.stop()


def test_out_of_space_is_507_and_unhealthy_until_space_is_freed(app: Flask, worker: Worker) -> None:
    data = Path(app.config["LISTEN_DATA_DIR"])
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    filler = fill(data)

    response = client.post("/api/v1/listen", json={"text": "Is there room for me?"})
    assert response.status_code == 507, response.get_data(as_text=True)
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["error"]["code"] == "insufficient_storage"
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.headers["Retry-After"].isdigit()
    report = health.get_json()
    assert report["status"] == "unavailable"
    assert "LISTEN_MIN_FREE_BYTES" in report["disk"]["status"]
    assert report["disk"]["free_bytes"] < FLOOR

    filler.unlink()
    assert client.get("/healthz").status_code == 200
    accepted = client.post("/api/v1/listen", json={"text": "Is there room for me?"})
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    assert debris(data) == []


def test_a_write_that_hits_enospc_is_507_not_500(app: Flask, mode: str) -> None:
    """With no floor, the write itself fails: the answer is the same, nothing is half-made."""
    app.config["LISTEN_MIN_FREE_BYTES"] = 0
    data = Path(app.config["LISTEN_DATA_DIR"])
    client = app.test_client()
    filler = fill(data)
    response = client.post("/api/v1/listen", json={"text": "No room at all."})
    if mode == "redis":
        # Records and queue live in Redis: the job is accepted, and waits for room.
        assert response.status_code == 202, response.get_data(as_text=True)
    else:
        assert response.status_code == 507, response.get_data(as_text=True)
        assert response.headers["Retry-After"].isdigit()
        assert response.get_json()["error"]["code"] == "insufficient_storage"
        assert app.extensions["listen_jobs"].counts()["queued"] == 0
    assert debris(data) == []
    filler.unlink()
    again = client.post("/api/v1/listen", json={"text": "No room at all."})
    assert again.status_code == 202, again.get_data(as_text=True)


def test_pruning_the_cache_brings_the_service_back(
    app: Flask, worker: Worker, tmp_path: Path
) -> None:
    """The disk filled by cached audio: ``listen-service cache prune`` is all it takes."""
    data = Path(app.config["LISTEN_DATA_DIR"])
    cache = app.extensions["listen_cache"]
    client = app.test_client()
    n = 0
    while shortage(app.config) is None:
        key = f"{n:064x}"
        audio = cache.temp_path(key, ".mp3")
        audio.write_bytes(os.urandom(1 << 20))
        cache.put(key, audio, fmt="mp3", duration_s=60.0)
        n += 1
    assert client.get("/healthz").status_code == 503
    assert client.post("/api/v1/listen", json={"text": "Room?"}).status_code == 507

    env = {**os.environ, **to_env(app.config)}
    cli = Path(sys.executable).with_name("listen-service")
    pruned = subprocess.run(
        [str(cli), "cache", "prune", "--max-bytes", str(4 << 20)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pruned.returncode == 0, pruned.stderr
    assert client.get("/healthz").status_code == 200
    assert client.post("/api/v1/listen", json={"text": "Room?"}).status_code == 202
    assert debris(data) == []


def test_a_worker_out_of_space_fails_the_job_cleanly_and_survives(
    app: Flask, worker: Worker, article: str
) -> None:
    app.config["LISTEN_MIN_FREE_BYTES"] = 0  # let the job through to the worker
    data = Path(app.config["LISTEN_DATA_DIR"])
    client = app.test_client()
    # Room for job records and queue messages, not for minutes of WAV audio.
    filler = fill(data, leave=256 * 1024)
    request = {"text": article[:1500], "format": "wav"}
    job = client.post("/api/v1/listen", json=request).get_json()
    deadline = time.monotonic() + 120
    while job["status"] != "failed" and time.monotonic() < deadline:
        job = client.get(f"{job['status_url']}?wait=5").get_json()
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "insufficient_storage"
    assert str(data) not in job["error"]["message"]
    assert worker.proc.poll() is None, worker.text()[-3000:]
    assert debris(data) == [] and audio_files(data) == []
    assert "audio_url" not in job  # a failed job offers no audio…
    assert client.get(f"/audio/{job['id']}.wav").status_code == 404  # …as there is none

    filler.unlink()
    job = client.post("/api/v1/listen", json=request).get_json()
    deadline = time.monotonic() + 180
    while job["status"] != "ready" and time.monotonic() < deadline:
        job = client.get(f"{job['status_url']}?wait=5").get_json()
    assert job["status"] == "ready", job
    out = data.parent / "served.wav"
    with client.get(job["audio_url"]) as served:
        assert served.status_code == 200
        out.write_bytes(served.data)
    assert float(ffprobe(out)["format"]["duration"]) > 10
    assert worker.proc.poll() is None


def test_a_worker_with_no_space_at_all_keeps_the_job_and_survives(
    app: Flask, mode: str, worker: Worker
) -> None:
    """The disk fills after the job was accepted: not even a job record can be written.

    With Redis holding the records the job is failed with its reason and a new
    POST starts it again. In embedded mode the records are on the full disk
    too, so nothing can be marked: the job stays accepted and is made, without
    a new POST, once there is room again (workers re-drive it).
    """
    app.config["LISTEN_MIN_FREE_BYTES"] = 0
    data = Path(app.config["LISTEN_DATA_DIR"])
    client = app.test_client()
    worker.proc.send_signal(signal.SIGSTOP)  # so the job waits for the disk to fill
    try:
        job = client.post("/api/v1/listen", json={"text": "Zero bytes left."}).get_json()
        filler = fill(data)
    finally:
        worker.proc.send_signal(signal.SIGCONT)
    if mode == "redis":
        deadline = time.monotonic() + 90
        while job["status"] != "failed" and time.monotonic() < deadline:
            job = client.get(f"{job['status_url']}?wait=5").get_json()
        assert job["status"] == "failed", job
        assert job["error"]["code"] == "insufficient_storage"
    else:
        deadline = time.monotonic() + 60
        while "No space left on device" not in worker.text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "No space left on device" in worker.text(), "the worker never tried the job"
        job = client.get(job["status_url"]).get_json()
        assert job["status"] in ("queued", "working"), job
    assert worker.proc.poll() is None, worker.text()[-3000:]
    assert debris(data) == [] and audio_files(data) == []

    filler.unlink()
    if mode == "redis":
        job = client.post("/api/v1/listen", json={"text": "Zero bytes left."}).get_json()
    deadline = time.monotonic() + 120
    while job["status"] != "ready" and time.monotonic() < deadline:
        job = client.get(f"{job['status_url']}?wait=5").get_json()
    assert job["status"] == "ready", job
    assert worker.proc.poll() is None
