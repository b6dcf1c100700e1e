"""/healthz's rules about workers and recent failures, over a real file registry.

The entries are written here as a worker process would write them (the service
tests in tests/service/test_workers_health.py do it with real workers); this
pins the thresholds: the stale time, the minimum of ended jobs, the ratio, the window.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask

from listen_service import create_app
from tests.promtext import value
from workers.registry import WorkerEntry


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path / "data"),
            "LISTEN_WORKER_STALE_SECONDS": 30,
            "LISTEN_HEALTH_WINDOW_SECONDS": 600,
            "LISTEN_HEALTH_FAILURE_RATIO": 0.8,
            "LISTEN_MIN_FREE_BYTES": 0,
        }
    )


def put(
    app: Flask, pid: int, beat_age: float, outcomes: list[tuple[float, bool]] | None = None
) -> None:
    now = time.time()
    app.extensions["listen_workers"].put(
        WorkerEntry(
            node="celery@box",
            host="box",
            pid=pid,
            concurrency=1,
            lanes=("listen",),
            started=now - 1000,
            heartbeat=now - beat_age,
            outcomes=tuple((now - age, ok) for age, ok in outcomes or ()),
        )
    )


def healthz(app: Flask) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()


def test_no_worker_or_only_stale_ones_is_503(app: Flask) -> None:
    status, report = healthz(app)
    assert status == 503 and report["workers"]["alive"] == 0
    assert report["workers"]["status"] == "no worker heartbeat in 30 s"
    put(app, 1, beat_age=31)
    status, report = healthz(app)
    assert status == 503 and report["workers"] == {
        "alive": 0,
        "nodes": [],
        "stale": 1,
        "status": "no worker heartbeat in 30 s",
    }
    put(app, 2, beat_age=1)
    status, report = healthz(app)
    assert status == 200 and report["workers"]["alive"] == 1
    assert report["workers"]["nodes"] == ["celery@box"]


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ([False] * 4, 200),  # fewer than 5 ended: no verdict
        ([False] * 4 + [True], 503),  # 80 %
        ([False] * 3 + [True] * 2, 200),  # 60 %
        ([False] * 10, 503),
    ],
)
def test_most_recent_jobs_failed_is_503(app: Flask, outcomes: list[bool], status: int) -> None:
    put(app, 1, beat_age=1, outcomes=[(100 - i, ok) for i, ok in enumerate(outcomes)])
    got, report = healthz(app)
    assert got == status, report
    assert report["recent_jobs"]["ended"] == len(outcomes)
    assert report["recent_jobs"]["failed"] == outcomes.count(False)


def test_failures_count_over_every_process_and_only_within_the_window(app: Flask) -> None:
    put(app, 1, beat_age=1, outcomes=[(10, False), (20, True), (30, False), (700, False)])
    # A dead process's recent failures still count, until they leave the window.
    put(app, 2, beat_age=60, outcomes=[(61, False), (62, False), (900, True)])
    status, report = healthz(app)
    assert report["recent_jobs"]["ended"] == 5 and report["recent_jobs"]["failed"] == 4
    assert status == 503


def test_entries_older_than_the_window_are_pruned(app: Flask) -> None:
    put(app, 1, beat_age=1)
    put(app, 2, beat_age=601)
    status, report = healthz(app)
    assert status == 200 and report["workers"]["stale"] == 0
    assert [e.pid for e in app.extensions["listen_workers"].entries()] == [1]


def test_listen_up_follows_the_workers(app: Flask) -> None:
    def scraped(name: str) -> float:
        return value(app.test_client().get("/metrics").get_data(as_text=True), name)

    assert (scraped("listen_up"), scraped("listen_workers_live")) == (0, 0)
    put(app, 1, beat_age=1)
    assert (scraped("listen_up"), scraped("listen_workers_live")) == (1, 1)
