"""Readers first: the interactive lane, with real workers, in both modes.

Bulk work must not delay a reader's press: a worker of both lanes takes the
interactive one first, a worker of the interactive lane alone is never busy
with bulk work, a reader's press moves a waiting bulk job over, and a queued
job says where it stands.
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from listen_service.lanes import INTERACTIVE, queue_of
from tests.conftest import ARTICLE
from tests.promtext import value
from tests.service.conftest import Worker, start_worker
from tests.service.test_flow import wait_ready


def post(client: FlaskClient, text: str, priority: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text}
    if priority is not None:
        body["priority"] = priority
    response = client.post("/api/v1/listen", json=body)
    assert response.status_code == 202, response.get_json()
    job: dict[str, Any] = response.get_json()
    return job


def status(client: FlaskClient, job: dict[str, Any]) -> dict[str, Any]:
    now: dict[str, Any] = client.get(job["status_url"]).get_json()
    return now


def long_article(n: int, nonce: str) -> str:
    """A distinct article of about 2,000 words."""
    return f"Article {n} of run {nonce}.\n\n" + "\n\n".join([ARTICLE.read_text()] * 4)


def received(worker: Worker) -> list[str]:
    """The job ids a worker took from the broker, in the order it took them."""
    return re.findall(r"listen\.synthesize\[([0-9a-f]{64})\] received", worker.text())


def test_a_readers_request_is_ready_while_bulk_work_is_still_unfinished(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    nonce = uuid.uuid4().hex[:8]
    bulk = [post(client, long_article(n, nonce), "bulk") for n in range(8)]
    # As serve runs them: the readers' worker of the interactive lane, and a
    # general one (here of one process, so that the bulk work surely fills it).
    readers = start_worker(app, tmp_path / "readers.log", lanes="interactive", node="readers")
    general = start_worker(app, tmp_path / "general.log", concurrency=1)
    try:
        reader = post(client, f"A reader presses Listen during run {nonce}.", "interactive")
        assert reader["queue"]["lane"] == "interactive"
        done = wait_ready(client, reader["status_url"])
        assert done["status"] == "ready"
        unfinished = [job for job in bulk if status(client, job)["status"] != "ready"]
        assert len(unfinished) >= len(bulk) // 2
        assert received(readers) == [reader["id"]]
        assert reader["id"] not in received(general)
    finally:
        readers.stop()
        general.stop()


def test_a_worker_of_both_lanes_takes_the_interactive_lane_first(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    nonce = uuid.uuid4().hex[:8]
    bulk = [post(client, f"Bulk article {n} of run {nonce}.") for n in range(3)]
    # Two: after taking one, kombu's own round robin would look at the bulk lane next.
    readers = [post(client, f"Reader {n}'s article of run {nonce}.", "interactive") for n in (1, 2)]
    worker = start_worker(app, tmp_path / "worker.log", concurrency=1)
    try:
        for job in readers + bulk:
            assert wait_ready(client, job["status_url"])["status"] == "ready"
    finally:
        worker.stop()
    # One process, one message at a time: the order it took them is the order it ran them.
    assert received(worker) == [job["id"] for job in readers + bulk]


def test_a_readers_press_moves_a_waiting_bulk_job_and_positions_follow(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    nonce = uuid.uuid4().hex[:8]
    texts = [f"Waiting article {n} of run {nonce}." for n in range(3)]
    jobs = [post(client, text) for text in texts]  # no priority: an API client's bulk
    assert [job["queue"] for job in jobs] == [{"lane": "bulk", "position": n} for n in range(3)]

    # Two readers press Listen on the last one at once: it is moved once.
    def press(_: int) -> dict[str, Any]:
        return post(app.test_client(), texts[2], "interactive")

    with ThreadPoolExecutor(2) as pool:
        pressed = list(pool.map(press, range(2)))
    assert {job["id"] for job in pressed} == {jobs[2]["id"]}
    assert status(client, jobs[2])["queue"] == {"lane": "interactive", "position": 0}
    # Recorded with the job, so that a re-drive would put it in the same lane.
    stored = app.extensions["listen_jobs"].payload(jobs[2]["id"])
    assert stored is not None and queue_of(stored) == INTERACTIVE
    assert [status(client, job)["queue"] for job in jobs[:2]] == [
        {"lane": "bulk", "position": 0},
        {"lane": "bulk", "position": 1},
    ]
    health = client.get("/healthz").get_json()
    assert health["queue_depth_by_lane"] == {"interactive": 1, "bulk": 2, "neural": 0}
    assert health["queue_depth"] == 3
    metrics = client.get("/metrics").get_data(as_text=True)
    assert value(metrics, "listen_queue_depth", lane="interactive") == 1
    assert value(metrics, "listen_queue_depth", lane="bulk") == 2

    # A worker of the interactive lane takes the moved job and leaves the bulk lane alone.
    readers = start_worker(app, tmp_path / "readers.log", lanes="interactive")
    try:
        assert wait_ready(client, jobs[2]["status_url"])["status"] == "ready"
    finally:
        readers.stop()
    assert received(readers) == [jobs[2]["id"]]  # once: no second message was sent
    assert [status(client, job)["status"] for job in jobs[:2]] == ["queued", "queued"]

    # A bulk worker drains the bulk lane; the second job moves up as it does.
    seen = [status(client, jobs[1])["queue"]["position"]]
    bulk = start_worker(app, tmp_path / "bulk.log", lanes="bulk")
    try:
        deadline = time.monotonic() + 120
        while (now := status(client, jobs[1]))["status"] == "queued":
            assert time.monotonic() < deadline, now
            seen.append(now["queue"]["position"])
            time.sleep(0.02)
        assert wait_ready(client, jobs[1]["status_url"])["status"] == "ready"
    finally:
        bulk.stop()
    known = [p for p in seen if p is not None]
    assert known[0] == 1 and known == sorted(known, reverse=True), seen
    assert 0 in known or len(known) < len(seen), seen  # next, or already in a worker's hands
    assert received(bulk) == [jobs[0]["id"], jobs[1]["id"]]


@pytest.mark.parametrize("priority", ["urgent", "", 1, True])
def test_an_unknown_priority_is_refused(app: Flask, priority: object) -> None:
    response = app.test_client().post("/api/v1/listen", json={"text": "Hi.", "priority": priority})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_field"
    assert "priority" in response.get_json()["error"]["message"]


def test_the_priority_is_not_part_of_the_job(app: Flask) -> None:
    client = app.test_client()
    text = f"One article, whoever asks, {uuid.uuid4().hex}."
    ids = {post(client, text, priority)["id"] for priority in ("bulk", "interactive", None)}
    assert len(ids) == 1
