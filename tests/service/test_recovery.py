"""Accepted means done: jobs survive an absent worker, a flushed broker and killed workers.

Real worker processes, a real Redis and the real speech engine. "Executed once"
is counted in the worker's log ("synthesised <id>"); messages are counted in
the broker itself (the Redis list, or the embedded broker's queue folder).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from listen_service.fsbroker import message_files
from listen_service.lanes import BULK, QUEUES
from tests.conftest import ARTICLE
from tests.service.conftest import Worker, start_worker


def messages_waiting(app: Flask, mode: str, broker: redis.Redis | None) -> int:
    """Messages waiting in the synthesis queues (both lanes), counted in the broker itself."""
    if mode == "redis":
        assert broker is not None
        return sum(int(broker.llen(queue)) for queue in QUEUES)
    folder = Path(app.config["LISTEN_DATA_DIR"]) / "broker" / "queue"
    return sum(len(message_files(folder, queue)) for queue in QUEUES)


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` holds; fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not after {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def is_ready(app: Flask, job_id: str) -> bool:
    """Audio made, read from the cache: not a status request, which could re-drive the job."""
    return app.extensions["listen_cache"].get(job_id) is not None


def long_text() -> str:
    return (ARTICLE.read_text() + "\n\n") * 3


def test_a_job_waiting_for_a_worker_is_never_lost_nor_duplicated(
    app: Flask, mode: str, tmp_path: Path, redis_client_or_none: Any
) -> None:
    app.config["LISTEN_STALE_SECONDS"] = 0.5
    client = app.test_client()
    body = client.post("/api/v1/listen", json={"text": "Waiting for a worker."}).get_json()
    assert body["status"] == "queued"
    polls_until = time.monotonic() + 3  # six stale timeouts of polling, no worker anywhere
    while time.monotonic() < polls_until:
        status = client.get(body["status_url"]).get_json()
        assert status["status"] == "queued", status
        time.sleep(0.1)
    assert messages_waiting(app, mode, redis_client_or_none) == 1

    w = start_worker(app, tmp_path / "late.log")
    try:
        wait_for("ready", lambda: is_ready(app, body["id"]), 60)
        time.sleep(1)  # a duplicate (there must be none) would show in the log by now
        assert w.syntheses(body["id"]) == 1
    finally:
        w.stop()
    job = app.extensions["listen_jobs"].get(body["id"])
    assert (job.status, job.attempts) == ("ready", 1)


@pytest.mark.parametrize("mode", ["redis"])
def test_flushing_the_broker_loses_no_job(
    app: Flask, mode: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app.config |= {"LISTEN_STALE_SECONDS": 1.0, "LISTEN_SWEEP_SECONDS": 1.0}
    client = app.test_client()
    ids = [
        client.post("/api/v1/listen", json={"text": f"Article number {n} of ten."}).get_json()["id"]
        for n in range(10)
    ]
    assert messages_waiting(app, mode, redis_client) == 10
    redis_client.flushdb()  # the broker's DB: the queue is gone, the job records are not
    assert messages_waiting(app, mode, redis_client) == 0
    assert client.get(f"/api/v1/jobs/{ids[0]}").get_json()["status"] == "queued"

    # No client polls from here on: the workers' sweep alone must re-drive all ten.
    w = start_worker(app, tmp_path / "after-flush.log", concurrency=2)
    try:
        wait_for("all ten ready", lambda: all(is_ready(app, i) for i in ids), 120)
        time.sleep(1)
        assert [w.syntheses(i) for i in ids] == [1] * 10
    finally:
        w.stop()


def working(app: Flask, job_id: str) -> bool:
    job = app.extensions["listen_jobs"].get(job_id)
    return job is not None and job.status == "working" and job.progress > 0


@pytest.mark.parametrize("mode", ["redis"])
def test_a_killed_pool_process_is_replaced_within_15_seconds(
    app: Flask, mode: str, worker: Worker
) -> None:
    client = app.test_client()
    body = client.post("/api/v1/listen", json={"text": long_text()}).get_json()
    wait_for("the job to start", lambda: working(app, body["id"]), 60)
    victims = worker.pool_children()
    assert victims
    subprocess.run(["kill", "-9", *map(str, victims)], check=True)
    took = wait_for("ready after the kill", lambda: is_ready(app, body["id"]), 15)
    print(f"ready {took:.1f} s after kill -9 of the pool process")
    assert worker.syntheses(body["id"]) == 1


def test_a_whole_worker_killed_midway_is_recovered_by_the_next_worker_without_polls(
    app: Flask, mode: str, tmp_path: Path, redis_client_or_none: Any
) -> None:
    app.config |= {"LISTEN_LEASE_SECONDS": 2.0, "LISTEN_SWEEP_SECONDS": 1.0}
    victim = start_worker(app, tmp_path / "victim.log")
    # Long enough that the kill lands mid-job even on a loaded machine (with
    # three copies the victim sometimes stored the audio just before it died).
    text = (ARTICLE.read_text() + "\n\n") * 8
    body = app.test_client().post("/api/v1/listen", json={"text": text}).get_json()
    try:
        wait_for("the job to start", lambda: working(app, body["id"]), 60)
        # The machine dies: main process and pool together, nothing cleans up.
        pids = [victim.proc.pid, *victim.pool_children()]
        subprocess.run(["kill", "-9", *map(str, pids)], check=True)
        victim.proc.wait(10)
    finally:
        victim.stop()
    assert not is_ready(app, body["id"])
    assert app.extensions["listen_cache"].get(body["id"]) is None, "the victim finished first"

    successor = start_worker(app, tmp_path / "successor.log")
    try:
        wait_for("ready via the successor", lambda: is_ready(app, body["id"]), 120)
        assert successor.syntheses(body["id"]) == 1
        if mode == "redis":
            assert "enqueued again" in successor.text()
        else:
            # The embedded broker keeps a claimed message on disk until it is
            # acknowledged: the successor takes back the dead worker's claim,
            # or (had the claim been lost too) its sweep enqueues the job again.
            log = successor.text()
            assert "returned 1 broker message(s)" in log or "enqueued again" in log
        if mode == "redis":
            # The dead worker's delivery is dropped, not put back later as a duplicate.
            entries = redis_client_or_none.hvals("unacked")
            assert not [e for e in entries if body["id"].encode() in e]
    finally:
        successor.stop()
    assert app.extensions["listen_jobs"].get(body["id"]).attempts == 2


def embedded_messages(app: Flask) -> int:
    """Messages of the embedded broker, waiting in its queue or claimed by a worker, dead or not."""
    broker = Path(app.config["LISTEN_DATA_DIR"]) / "broker"
    folders = [broker / "queue", *(broker / "claimed").iterdir()]
    return sum(len(message_files(folder, queue)) for folder in folders for queue in QUEUES)


@pytest.mark.parametrize("mode", ["embedded"])
def test_a_dead_workers_claimed_job_is_not_enqueued_a_second_time(
    app: Flask, mode: str, tmp_path: Path
) -> None:
    app.config |= {"LISTEN_LEASE_SECONDS": 1.0, "LISTEN_STALE_SECONDS": 1.0}
    client = app.test_client()
    victim = start_worker(app, tmp_path / "victim.log")
    body = client.post("/api/v1/listen", json={"text": long_text()}).get_json()
    try:
        wait_for("the job to start", lambda: working(app, body["id"]), 60)
        subprocess.run(
            ["kill", "-9", str(victim.proc.pid), *map(str, victim.pool_children())], check=True
        )
        victim.proc.wait(10)
    finally:
        victim.stop()
    assert embedded_messages(app) == 1  # the dead worker's claim, to be returned

    # Polled long past the lease with no worker running: the claim is the job's
    # message, so no second one is enqueued beside it.
    polls_until, seen = time.monotonic() + 3, set[str]()
    while time.monotonic() < polls_until:
        seen.add(client.get(body["status_url"]).get_json()["status"])
        time.sleep(0.1)
    assert embedded_messages(app) == 1
    assert seen == {"working"}

    successor = start_worker(app, tmp_path / "successor.log")
    try:
        wait_for("ready via the successor", lambda: is_ready(app, body["id"]), 120)
        time.sleep(1)  # a duplicate (there must be none) would show in the log by now
        assert successor.syntheses(body["id"]) == 1
        assert "enqueued again" not in successor.text()
        assert embedded_messages(app) == 0
    finally:
        successor.stop()


@pytest.fixture
def site_keys(service_config: dict[str, Any]) -> dict[str, Any]:
    service_config |= {
        "LISTEN_SITE_KEYS": "news:news-key-123,blog:blog-key-456",
        "LISTEN_SITE_MAX_QUEUED": 3,
        "LISTEN_MAX_QUEUED": 5,
    }
    return service_config


def test_a_site_flooding_the_queue_gets_429_and_the_queue_stays_bounded(
    site_keys: dict[str, Any], app: Flask, mode: str, redis_client_or_none: Any
) -> None:
    client = app.test_client()

    def post(key: str, n: int) -> Any:
        return client.post(
            "/api/v1/listen", json={"text": f"Flood item {n}."}, headers={"X-Listen-Key": key}
        )

    answers = [post("news-key-123", n) for n in range(10)]
    assert [a.status_code for a in answers] == [202] * 3 + [429] * 7
    refused = answers[-1]
    assert refused.get_json()["error"]["code"] == "queue_full"
    assert set(refused.get_json()) == {"error"} and "site" in refused.get_json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert messages_waiting(app, mode, redis_client_or_none) == 3
    # The same article again is not a new job: answered as before, never refused.
    assert post("news-key-123", 0).status_code == 202

    # Another site has its own allowance, up to the global cap of 5.
    assert [post("blog-key-456", n).status_code for n in range(3)] == [202, 202, 429]
    assert post("blog-key-456", 2).get_json()["error"]["message"].startswith("the service")
    assert messages_waiting(app, mode, redis_client_or_none) == 5


def test_the_broker_is_asked_by_job_id_about_real_messages(
    app: Flask, mode: str, redis_client_or_none: Any
) -> None:
    from listen_service.celery import send_synthesis

    broker = app.extensions["listen_broker"]
    sent, other, never = "a1" * 32, "b2" * 32, "c3" * 32
    # An article quoting another job's id, even as the member a message holds it in.
    text = f'{never} in the text, and {{"id": "{never}"}}, and {{"id":"{never}"}}'
    for job_id in (sent, other):
        send_synthesis(app.extensions["celery"], job_id, {"text": text})
    assert broker.waiting([sent, never]) == {sent}
    assert broker.waiting([]) == set()
    if mode == "redis":
        # A delivery to a worker that died, in kombu's own layout.
        raw = redis_client_or_none.lpop(BULK)  # sent without a priority: the bulk lane
        delivered_id = json.loads(raw)["headers"]["id"]
        entry = json.dumps([json.loads(raw), "", BULK])
        redis_client_or_none.hset("unacked", "tag-1", entry)
        redis_client_or_none.zadd("unacked_index", {"tag-1": time.time()})
        broker.drop_delivered(never)
        assert redis_client_or_none.hlen("unacked") == 1  # another job's delivery is kept
        broker.drop_delivered(delivered_id)
        assert redis_client_or_none.hlen("unacked") == 0
        assert redis_client_or_none.zcard("unacked_index") == 0
