"""Sentence timings while a job is made, and time to first audio (real workers, both modes).

A job's status body carries the timings made so far; its event stream sends
each one once, in ``timings`` events, and those joined are the finished
entry's timings. Every attempt records its time to first audio, on the job
and in ``/metrics``, counted across all workers in the job store.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.promtext import value
from tests.service.conftest import Worker
from tests.service.test_progressive import long_text, post_working


def first_audio_count(client: FlaskClient) -> int:
    text = client.get("/metrics").get_data(as_text=True)
    return int(value(text, "listen_time_to_first_audio_seconds_count"))


def final_timings(client: FlaskClient, done: dict[str, Any]) -> list[dict[str, Any]]:
    timings: list[dict[str, Any]] = client.get(done["timings_url"]).json["timings"]
    return timings


def test_a_working_jobs_status_carries_its_growing_timings(app: Flask, worker: Worker) -> None:
    client = app.test_client()
    counted = first_audio_count(client)
    body = post_working(client, long_text("Timings as they are made", 6))
    bodies: list[dict[str, Any]] = []
    while (now := client.get(body["status_url"]).json)["status"] == "working":
        bodies.append(now)
        time.sleep(0.02)
    assert now["status"] == "ready", now
    assert "timings" not in now and "made_ms" not in now

    assert all("first_audio_s" in b for b in bodies)
    made = [b["made_ms"] for b in bodies]
    assert made == sorted(made)
    assert len(set(made)) > 2, "the timings did not grow while the job worked"
    for b in bodies:
        assert b["made_ms"] == (b["timings"][-1]["end_ms"] if b["timings"] else 0)
    assert any(b["first_audio_s"] for b in bodies), "first audio never shown while working"
    final = final_timings(client, now)
    for b in bodies:
        assert b["timings"] == final[: len(b["timings"])]

    job = app.extensions["listen_jobs"].get(body["id"])
    assert job.first_audio_s is not None and job.first_audio_s > 0
    assert first_audio_count(client) == counted + 1


def sse(url: str) -> list[tuple[str, dict[str, Any]]]:
    """Every event of a stream, until the server ends it."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    with urllib.request.urlopen(url, timeout=120) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


def test_the_event_stream_sends_each_timing_once(app: Flask, worker: Worker, server: str) -> None:
    client = app.test_client()
    counted = first_audio_count(client)
    posted = client.post("/api/v1/listen", json={"text": long_text("Timings events", 6)}).json
    events = sse(f"{server}/api/v1/jobs/{posted['id']}/events")

    kinds = [kind for kind, _ in events]
    assert set(kinds) == {"timings", "status"}
    assert kinds[-1] == "status" and events[-1][1]["status"] == "ready"
    # Each timings event comes with the status event of its look, just after it.
    for n, kind in enumerate(kinds):
        if kind == "timings":
            assert kinds[n + 1] == "status"
    statuses = [data for kind, data in events if kind == "status"]
    assert all("timings" not in s for s in statuses)

    joined: list[dict[str, Any]] = []
    batches = [data for kind, data in events if kind == "timings"]
    for batch in batches:
        assert batch["from"] == len(joined)  # nothing sent twice, nothing skipped
        joined += batch["timings"]
    assert joined == final_timings(client, events[-1][1])
    working = [s for s in statuses if s["status"] == "working"]
    assert len(batches) > 2, "the timings came in one piece, not as they were made"
    assert any(s["made_ms"] > 0 for s in working), "no timing was sent while the job worked"
    assert [s["made_ms"] for s in working] == sorted(s["made_ms"] for s in working)

    job = app.extensions["listen_jobs"].get(posted["id"])
    assert job.first_audio_s is not None and job.first_audio_s > 0
    assert first_audio_count(client) == counted + 1


def test_a_stream_that_joins_late_gets_every_timing_made_so_far_first(
    app: Flask, worker: Worker, server: str
) -> None:
    client = app.test_client()
    body = post_working(client, long_text("Joins late", 6))
    while not (now := client.get(body["status_url"]).json).get("made_ms"):
        assert now["status"] == "working", "the job ended before its first timing was seen"
        time.sleep(0.02)
    events = sse(f"{server}/api/v1/jobs/{body['id']}/events")
    kind, first = events[0]
    assert kind == "timings" and first["from"] == 0
    assert len(first["timings"]) >= len(now["timings"])
    joined = [t for kind, data in events if kind == "timings" for t in data["timings"]]
    assert joined == final_timings(client, events[-1][1])
