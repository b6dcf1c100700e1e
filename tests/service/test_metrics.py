"""``/metrics`` from prometheus_client against real workers (both modes) and real gunicorn.

What one scrape must show: the web's request counters, the workers' job
histograms and counters (read from their multiprocess files on this host, or
from the worker's own port when one is set, never both), and the figures
read at scrape time — all parseable by prometheus_client's own parser.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.multiprocess import MultiProcessCollector

from listen_service import create_app, metricsdir
from listen_service.ops.metrics import counter_totals
from tests.conftest import ARTICLE
from tests.promtext import Samples, samples, value
from tests.service.conftest import Worker, start_worker
from tests.service.test_flow import wait_ready

ROOT = Path(__file__).resolve().parents[2]
LISTEN = "/api/v1/listen"


def scrape(app: Flask) -> Samples:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.get_data(as_text=True))


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape_once_moved(app: Flask, before: Samples, name: str, **labels: str) -> Samples:
    """A scrape taken once ``name`` has moved, or after ten seconds.

    A worker counts a job in Celery's signals, just after the job's record says
    how it ended; a scrape at that moment may not show it yet.
    """
    deadline = time.monotonic() + 10
    while True:
        after = scrape(app)
        if moved(before, after, name, **labels) or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


def test_a_real_job_moves_the_web_and_worker_metrics(app: Flask, worker: Worker, mode: str) -> None:
    client = app.test_client()
    text = ARTICLE.read_text()[:600]
    before = scrape(app)
    assert value(before, "listen_up") == 1
    # The worker fixture runs two pool processes, each with its heartbeat.
    assert value(before, "listen_workers_live") == 2
    posted = client.post(LISTEN, json={"text": text, "title": "Metrics"})
    assert posted.status_code == 202
    assert wait_ready(client, posted.json["status_url"])["status"] == "ready"
    again = client.post(LISTEN, json={"text": text, "title": "Metrics"})
    assert again.status_code == 200
    # The audio histogram is the last thing a worker records for a job.
    after = scrape_once_moved(app, before, "listen_audio_seconds_count")

    # The web's own: requests by route and status, the cache, acceptance.
    requests = "listen_http_requests_total"
    assert moved(before, after, requests, route=LISTEN, method="POST", status="202") == 1
    assert moved(before, after, requests, route=LISTEN, method="POST", status="200") == 1
    assert moved(before, after, "listen_cache_requests_total", result="miss") == 1
    assert moved(before, after, "listen_cache_requests_total", result="hit") == 1
    # No priority: an API post goes to the bulk lane.
    assert moved(before, after, "listen_jobs_accepted_total", lane="bulk") == 1
    latency = "listen_http_request_duration_seconds_count"
    assert moved(before, after, latency, route=LISTEN, method="POST") == 2
    # The worker's, from its pool process's files: one synthesis, its audio, its wait.
    assert moved(before, after, "listen_synthesis_seconds_count") == 1
    assert moved(before, after, "listen_synthesis_seconds_sum") > 0
    assert moved(before, after, "listen_audio_seconds_count") == 1
    duration = client.get(posted.json["status_url"]).json["duration_s"]
    assert moved(before, after, "listen_audio_seconds_sum") == pytest.approx(duration)
    assert moved(before, after, "listen_queue_wait_seconds_count") == 1
    assert moved(before, after, "listen_jobs_finished_total", result="synthesised") == 1
    # Through the job store, every worker of every machine.
    assert moved(before, after, "listen_time_to_first_audio_seconds_count") == 1
    assert value(after, "listen_queue_depth", lane="bulk") == 0


def test_retries_and_failures_are_counted_by_their_reason(
    service_config: dict[str, Any], tmp_path: Path
) -> None:
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'broken encoder' >&2\nexit 1\n")
    broken.chmod(0o755)
    settings = {"LISTEN_FFMPEG": str(broken), "LISTEN_TASK_MAX_RETRIES": 1}
    app = create_app({**service_config, **settings})
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        client = app.test_client()
        before = scrape(app)
        posted = client.post(LISTEN, json={"text": ARTICLE.read_text()[:300]})
        body = wait_ready(client, posted.json["status_url"])
        code = (body.get("error") or {}).get("code", "")
        after = scrape_once_moved(app, before, "listen_jobs_failed_total", reason=code)
    finally:
        worker.stop()
    assert body["status"] == "failed"
    assert moved(before, after, "listen_jobs_retried_total", reason=code) == 1
    assert moved(before, after, "listen_jobs_failed_total", reason=code) == 1
    assert moved(before, after, "listen_synthesis_seconds_count") == 0


def test_a_worker_counts_the_entries_its_puts_evict(
    service_config: dict[str, Any], tmp_path: Path
) -> None:
    # 1 byte (0 is no cap): each put keeps only the entry it has just put.
    app = create_app({**service_config, "LISTEN_CACHE_MAX_BYTES": 1})
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        client = app.test_client()
        before = scrape(app)
        text = ARTICLE.read_text()
        first = client.post(LISTEN, json={"text": text[:300]})
        assert wait_ready(client, first.json["status_url"])["status"] == "ready"
        between = scrape_once_moved(app, before, "listen_audio_seconds_count")
        second = client.post(LISTEN, json={"text": text[300:600]})
        assert wait_ready(client, second.json["status_url"])["status"] == "ready"
        after = scrape_once_moved(app, before, "listen_cache_evictions_total")
    finally:
        worker.stop()
    assert moved(before, between, "listen_cache_evictions_total") == 0  # nothing else to evict
    assert moved(before, after, "listen_cache_evictions_total") == 1  # the first, by the second
    stats = app.extensions["listen_cache"].stats()
    assert stats.entries == 1
    # The console's "Evictions" is the same counter.
    totals = counter_totals(app, {"listen_cache_evictions"})
    assert totals[("listen_cache_evictions", ())] == value(after, "listen_cache_evictions_total")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


def test_a_worker_with_a_port_serves_its_own_metrics_and_the_web_leaves_them_out(
    service_config: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    app = create_app({**service_config, "LISTEN_WORKER_METRICS_PORT": port})
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        client = app.test_client()
        posted = client.post(LISTEN, json={"text": ARTICLE.read_text()[:300]})
        assert wait_ready(client, posted.json["status_url"])["status"] == "ready"
        status, text = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        own = samples(text)
        assert value(own, "listen_synthesis_seconds_count") == 1
        assert value(own, "listen_jobs_finished_total", result="synthesised") == 1
        # Scraped there, so not here as well: sums over both targets stay true.
        assert value(scrape(app), "listen_synthesis_seconds_count") == 0
    finally:
        worker.stop()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``listen-service web --workers 2`` (gunicorn), embedded mode, on a free port."""
    data = tmp_path / "data"
    env = {**os.environ, "LISTEN_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    env.pop("LISTEN_BROKER_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "web.log"
    cmd = [sys.executable, "-m", "listen_service.cli", "web", "--bind", "127.0.0.1:0"]
    cmd += ["--workers", "2", "--threads", "6"]
    with log.open("wb") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    found = None
    while found is None or len(re.findall(r"Booting worker with pid", log.read_text())) < 2:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
        time.sleep(0.1)
    yield f"http://127.0.0.1:{found.group(1)}", proc, data
    proc.terminate()
    proc.wait(30)


def metrics_root(data: Path) -> Path:
    """Where the service with data directory ``data`` keeps its metrics files."""
    return metricsdir.root({"LISTEN_METRICS_DIR": "", "LISTEN_DATA_DIR": str(data)})


def livez_by_process(data: Path) -> dict[int, float]:
    """``/livez`` requests each gunicorn process counted in its own file."""
    counted = {}
    for file in metrics_root(data).glob("web-*/counter_*.db"):
        for family in MultiProcessCollector.merge([str(file)]):
            for s in family.samples:
                if s.name == "listen_http_requests_total" and s.labels["route"] == "/livez":
                    counted[int(file.stem.split("_")[-1])] = s.value
    return counted


def livez_total(text: str) -> float:
    return value(text, "listen_http_requests_total", route="/livez", method="GET", status="200")


def pids_of(data: Path, kind: str) -> set[int]:
    """Processes with a file of ``kind`` (``counter``, ``gauge_livesum``) in the web's folder."""
    return {int(p.stem.rsplit("_", 1)[1]) for p in metrics_root(data).glob(f"web-*/{kind}_*.db")}


def test_counters_of_every_gunicorn_process_add_up_in_one_scrape(
    web: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, proc, data = web
    sent = 0
    # Each request on a new connection; the kernel hands them to either
    # process. Until both have counted some (bounded, and said if not).
    while len(livez_by_process(data)) < 2:
        assert sent < 2000, "one gunicorn process took every request"
        for _ in range(20):
            assert get(base + "/livez")[0] == 200
            sent += 1
    status, text = get(base + "/metrics")
    assert status == 200
    assert livez_total(text) == sent
    assert value(text, "listen_http_requests_in_progress") == 1  # this scrape

    # A process killed and replaced: what it counted still counts, its live gauge goes.
    victim = max(livez_by_process(data))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in pids_of(data, "gauge_livesum"):
        assert time.monotonic() < deadline, "the dead process's live gauge stayed"
        time.sleep(0.1)
    status, text = get(base + "/metrics")
    assert livez_total(text) == sent
    assert value(text, "listen_http_requests_in_progress") == 1
    assert proc.poll() is None
