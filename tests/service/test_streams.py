"""Event streams and long polls cannot starve the API (real servers, both modes).

Each held stream or long poll takes a web thread; ``LISTEN_STREAMS_PER_PROCESS``
and ``LISTEN_STREAMS_PER_CLIENT`` bound them, and a request over a bound gets
the job's current state at once instead of an error.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from werkzeug.serving import make_server

from audio_cache import AudioCache
from listen_service import create_app
from listen_service.config import load
from tests.conftest import require
from tests.service.conftest import REDIS_URL
from workers.jobs import open_store

STREAMS = 200
ADDRESSES = 100  # 127.0.0.2 … 127.0.0.101, two streams each


@dataclass
class Stream:
    """One raw HTTP/1.1 request for a job's events, read without blocking."""

    sock: socket.socket
    data: bytes = b""
    eof: bool = False
    sent_at: float = field(default_factory=time.monotonic)
    done_at: float | None = None

    @property
    def head(self) -> str:
        return self.data.split(b"\r\n\r\n", 1)[0].decode("latin-1")

    @property
    def events(self) -> list[dict[str, Any]]:
        found = []
        for block in self.data.decode("utf-8", "replace").split("\n\n"):
            lines = dict(
                line.split(": ", 1)
                for line in block.splitlines()
                if line.startswith(("event", "data"))
            )
            if lines.get("event") == "status":
                found.append(json.loads(lines["data"]))
        return found


def open_stream(port: int, path: str, source: str) -> Stream:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    # Connection: close makes a finished (turned away) answer end in EOF.
    request = (
        f"GET {path} HTTP/1.1\r\nHost: listen\r\nAccept: text/event-stream\r\n"
        "Connection: close\r\n\r\n"
    )
    sock.sendall(request.encode())
    sock.setblocking(False)
    return Stream(sock)


def read_until_settled(streams: list[Stream], timeout: float, quiet: float = 3.0) -> None:
    """Read until every stream has sent a first status event and none ended for ``quiet`` s."""
    selector = selectors.DefaultSelector()
    for s in streams:
        selector.register(s.sock, selectors.EVENT_READ, s)
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    try:
        while time.monotonic() < deadline:
            started = all(b"event: status" in s.data for s in streams)
            if started and time.monotonic() - last_change > quiet:
                return
            for key, _ in selector.select(0.5):
                s = key.data
                chunk = s.sock.recv(65536)
                if chunk:
                    s.data += chunk
                else:
                    s.eof, s.done_at = True, time.monotonic()
                    last_change = s.done_at
                    selector.unregister(s.sock)
                    # As browsers do; gunicorn lingers on a half-closed socket.
                    s.sock.close()
    finally:
        selector.close()


def still_open(stream: Stream) -> bool:
    try:
        return stream.sock.recv(65536, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True


def healthz_ms(base: str, n: int = 9) -> float:
    """Median time of ``/healthz``'s full answer: 200, or 503 in Redis mode, where
    ``web`` runs without a worker (the point here is that it answers at all)."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=30) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        assert status in (200, 503) and json.loads(body)["status"], body
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.1)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def queued_job(env: dict[str, str]) -> str:
    """A job recorded as queued with no message for it: it stays queued, no worker needed."""
    config = load(env=env)
    job_id = hashlib.sha256(f"streams {time.time()}".encode()).hexdigest()
    assert open_store(config["LISTEN_REDIS_URL"], config["LISTEN_DATA_DIR"]).accept(
        job_id, {"text": "Waiting for a worker."}
    )
    return job_id


@pytest.fixture
def service(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, dict[str, str], int]]:
    """``listen-service web`` (gunicorn) in Redis mode, ``serve`` in embedded mode.

    Yields the base URL, the environment and how many streams all its
    processes may hold at once.
    """
    env = {
        **os.environ,
        "LISTEN_DATA_DIR": str(tmp_path / "data"),
        "LISTEN_STALE_SECONDS": "3600",
        "PYTHONUNBUFFERED": "1",
    }
    cli = [sys.executable, "-m", "listen_service.cli"]
    log = (tmp_path / "server.log").open("wb")
    if mode == "redis":
        client: redis.Redis = request.getfixturevalue("redis_client")
        client.flushdb()
        request.addfinalizer(client.flushdb)
        env["LISTEN_BROKER_URL"] = REDIS_URL
        port = free_port()
        proc = subprocess.Popen(
            [*cli, "web", "--bind", f"127.0.0.1:{port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        bound = 2 * 8  # two gunicorn workers (the default), eight streams each
    else:
        port = 0
        proc = subprocess.Popen(
            [*cli, "serve", "--port", "0"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        bound = 8
    log.close()
    try:
        base = wait_up(proc, tmp_path / "server.log", port)
        yield base, env, bound
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_up(proc: subprocess.Popen[bytes], log: Path, port: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
        if port == 0:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("Listen is running at http://"):
                    port = int(line.rsplit(":", 1)[1].strip("/"))
        if port:
            try:
                # Liveness: the web side is up, with or without workers.
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=5):
                    return f"http://127.0.0.1:{port}"
            except OSError:
                pass
        time.sleep(0.2)
    pytest.fail(f"the server did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def test_healthz_answers_fast_with_200_event_streams_open(
    service: tuple[str, dict[str, str], int],
) -> None:
    base, env, bound = service
    job_id = queued_job(env)
    port = int(base.rsplit(":", 1)[1])
    path = f"/api/v1/jobs/{job_id}/events"
    streams = [open_stream(port, path, f"127.0.0.{2 + i % ADDRESSES}") for i in range(STREAMS)]
    try:
        read_until_settled(streams, timeout=60)
        for s in streams:
            assert s.head.startswith("HTTP/1.1 200"), s.head
            assert "text/event-stream" in s.head
            assert s.events and s.events[0]["status"] == "queued" and s.events[0]["id"] == job_id
        held = [s for s in streams if not s.eof]
        turned_away = [s for s in streams if s.eof]
        assert 0 < len(held) <= bound
        assert len(turned_away) == STREAMS - len(held)
        # Told when to come back, later than a live stream would be.
        assert all(b"retry: 5000" in s.data for s in turned_away)

        assert healthz_ms(base) < 100
        # The held streams were open all along.
        assert all(still_open(s) for s in held)
    finally:
        for s in streams:
            s.sock.close()


def test_clients_that_never_close_their_sockets_do_not_stall_the_server(
    service: tuple[str, dict[str, str], int],
) -> None:
    base, _, _ = service
    port = int(base.rsplit(":", 1)[1])
    idle = []
    # In waves, so that each web process gets its share: a process busy with
    # the first wave leaves the next to the others.
    for i in range(60):
        if i % 20 == 0:
            time.sleep(0.5)
        sock = socket.socket()
        sock.bind((f"127.0.0.{2 + i}", 0))
        sock.connect(("127.0.0.1", port))
        # Asks the server to close after answering, then reads and closes nothing.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: listen\r\nConnection: close\r\n\r\n")
        idle.append(sock)
    try:
        time.sleep(1)
        assert healthz_ms(base) < 100
    finally:
        for sock in idle:
            sock.close()


def test_long_poll_on_a_failed_job_returns_at_once(app: Flask, server: str) -> None:
    job_id = hashlib.sha256(b"a job that failed").hexdigest()
    jobs = app.extensions["listen_jobs"]
    assert jobs.accept(job_id, {"text": "Doomed."})
    jobs.fail(job_id, "synthesis_failed", "the engine gave up")
    started = time.monotonic()
    with urllib.request.urlopen(f"{server}/api/v1/jobs/{job_id}?wait=20", timeout=60) as resp:
        body = json.loads(resp.read())
    # Nothing will change: the answer comes now, not after the 20 s asked for.
    assert time.monotonic() - started < 5
    assert body["status"] == "failed" and body["error"]["code"] == "synthesis_failed"
    with urllib.request.urlopen(f"{server}/api/v1/jobs/{job_id}/events", timeout=60) as resp:
        events = resp.read().decode()
    assert time.monotonic() - started < 10
    assert events.count("event: status") == 1 and '"status": "failed"' in events


def cached_mp3(cache: AudioCache, job_id: str, tmp_path: Path) -> None:
    """Real audio in the cache under ``job_id``, as a finished job leaves it."""
    source = tmp_path / "tone.mp3"
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-q:a", "9"]
    subprocess.run([require("ffmpeg"), "-v", "error", *tone, str(source)], check=True)
    tmp = cache.temp_path(job_id, ".mp3")
    shutil.move(source, tmp)
    timings = [
        {"index": 0, "paragraph": 0, "start_ms": 0, "end_ms": 1000, "char_start": 0, "char_end": 4}
    ]
    meta = {"timings": timings, "voice": "en-gb", "rate": 175, "sentences": 1, "paragraphs": 1}
    cache.put(job_id, tmp, fmt="mp3", duration_s=1.0, title="Tone", meta=meta)


def test_a_cached_job_is_answered_while_redis_is_down(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_app({"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_BROKER_URL": nowhere})
    ready = hashlib.sha256(b"made before the outage").hexdigest()
    cached_mp3(app.extensions["listen_cache"], ready, tmp_path)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.port}"
    try:
        for query in ("", "?wait=10"):
            with urllib.request.urlopen(f"{base}/api/v1/jobs/{ready}{query}", timeout=60) as resp:
                assert resp.status == 200
                body = json.loads(resp.read())
            assert body["status"] == "ready" and body["audio_url"].endswith(".mp3")
        with urllib.request.urlopen(f"{base}/api/v1/jobs/{ready}/events", timeout=60) as resp:
            assert resp.status == 200
            assert '"status": "ready"' in resp.read().decode()
        # The store really is down: a job it would have to answer for gets 503.
        unknown = hashlib.sha256(b"never cached").hexdigest()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}/api/v1/jobs/{unknown}", timeout=60)
        assert caught.value.code == 503 and caught.value.headers["Retry-After"]
        assert json.loads(caught.value.read())["error"]["code"] == "service_unavailable"
    finally:
        httpd.shutdown()


def test_an_event_stream_reports_a_redis_outage_as_an_error_event(tmp_path: Path) -> None:
    port = free_port()
    redis_server = subprocess.Popen(
        [require("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        app = create_app(
            {
                "LISTEN_DATA_DIR": str(tmp_path / "data"),
                "LISTEN_BROKER_URL": url,
                "LISTEN_STALE_SECONDS": 3600,
            }
        )
        job_id = hashlib.sha256(b"followed through an outage").hexdigest()
        assert app.extensions["listen_jobs"].accept(job_id, {"text": "Waiting."})
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{httpd.port}/api/v1/jobs/{job_id}/events"
            with urllib.request.urlopen(url, timeout=60) as stream:
                assert stream.readline().startswith(b"retry:")
                redis_server.terminate()
                redis_server.wait(10)
                rest = stream.read().decode()
            assert "event: error" in rest and '"service_unavailable"' in rest
        finally:
            httpd.shutdown()
    finally:
        redis_server.kill()
        redis_server.wait()


def test_long_polls_over_the_per_client_bound_return_at_once(app: Flask, server: str) -> None:
    job_id = hashlib.sha256(b"polled by one impatient client").hexdigest()
    assert app.extensions["listen_jobs"].accept(job_id, {"text": "Waiting."})
    port = int(server.rsplit(":", 1)[1])
    took: dict[str, list[float]] = {"127.0.0.2": [], "127.0.0.3": []}

    def poll(source: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
        started = time.monotonic()
        conn.request("GET", f"/api/v1/jobs/{job_id}?wait=8")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["status"] == "queued"
        took[source].append(time.monotonic() - started)
        conn.close()

    # Four from one address (the default bound is two), one from another.
    threads = [threading.Thread(target=poll, args=("127.0.0.2",)) for _ in range(4)]
    threads.append(threading.Thread(target=poll, args=("127.0.0.3",)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mine = sorted(took["127.0.0.2"])
    assert len(mine) == 4
    assert mine[0] < 4 and mine[1] < 4, mine  # turned away: the state now
    assert mine[2] >= 8 and mine[3] >= 8, mine  # held for the whole wait
    assert took["127.0.0.3"][0] >= 8  # another client still gets its long poll


def test_a_stream_whose_client_went_away_frees_its_slot(service_config: dict[str, Any]) -> None:
    app = create_app({**service_config, "LISTEN_STREAMS_PER_PROCESS": 1})
    job_id = hashlib.sha256(b"followed, then abandoned").hexdigest()
    assert app.extensions["listen_jobs"].accept(job_id, {"text": "Waiting."})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    path = f"/api/v1/jobs/{job_id}/events"
    try:
        first = open_stream(httpd.port, path, "127.0.0.2")
        read_until_settled([first], timeout=30, quiet=1)
        assert not first.eof  # it holds the only slot
        turned_away = open_stream(httpd.port, path, "127.0.0.3")
        read_until_settled([turned_away], timeout=30, quiet=1)
        assert turned_away.eof and b"retry: 5000" in turned_away.data
        first.sock.close()  # the reader closed the tab
        deadline = time.monotonic() + 30
        while True:
            again = open_stream(httpd.port, path, "127.0.0.3")
            read_until_settled([again], timeout=30, quiet=1)
            again.sock.close()
            if not again.eof:
                break
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(1)
    finally:
        httpd.shutdown()
