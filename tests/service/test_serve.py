"""`listen-service serve`, the README's first command, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_web_and_worker_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "LISTEN_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("LISTEN_BROKER_URL", None)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "listen_service.cli", "serve", "--port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"Listen is running at (http://\S+)", _read(tmp_path))):
            assert proc.poll() is None and time.monotonic() < deadline, _read(tmp_path)
            time.sleep(0.1)
        url = found.group(1).rstrip("/")
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert b"<listen-button" in page.read()
        request = urllib.request.Request(
            url + "/api/v1/listen",
            data=json.dumps({"text": "Served on one machine."}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            job = json.load(response)
        for _ in range(20):
            with urllib.request.urlopen(f"{job['status_url']}?wait=10", timeout=30) as r:
                job = json.load(r)
            if job["status"] in ("ready", "failed"):
                break
        assert job["status"] == "ready"
        worker = _worker_pids(proc.pid)
        assert worker, "serve started no worker process"
        # Two workers: the readers' one (the interactive lane alone) and the general one.
        assert sorted(_queues_of(pid) for pid in _children(proc.pid)) == [
            "listen",
            "listen,listen.bulk,listen.neural",
        ]
        # Started with malloc's huge pages asked for (run.worker_env), pool included.
        assert all("glibc.malloc.hugetlb=1" in _tunables(pid) for pid in worker)
        proc.send_signal(sig)
        assert proc.wait(60) == 0
        time.sleep(0.5)
        assert not [pid for pid in worker if Path(f"/proc/{pid}").exists()]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def _read(tmp_path: Path) -> str:
    return (tmp_path / "serve.log").read_text(errors="replace")


def _children(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _worker_pids(parent: int) -> list[int]:
    children = _children(parent)
    return children + [pid for child in children for pid in _children(child)]


def _queues_of(pid: int) -> str:
    """The queues (``-Q``) a Celery worker process consumes."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return cmdline[cmdline.index("-Q") + 1]


def _tunables(pid: int) -> str:
    """The ``GLIBC_TUNABLES`` a process was started with."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(b"GLIBC_TUNABLES="):
            return entry.partition(b"=")[2].decode()
    return ""


def test_serve_on_a_busy_port_says_so_and_starts_no_worker(tmp_path: Path) -> None:
    import socket

    env = {**os.environ, "LISTEN_DATA_DIR": str(tmp_path / "data")}
    env.pop("LISTEN_BROKER_URL", None)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "listen_service.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"listen-service: cannot listen on 127.0.0.1:{port}: Address already in use" in (
        done.stderr
    )
    assert "Listen is running" not in done.stdout
