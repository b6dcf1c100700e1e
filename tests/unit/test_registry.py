"""The worker registry, both implementations, against a real directory and a real Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from workers.registry import (
    KEEP_OUTCOMES,
    FileWorkerRegistry,
    RedisWorkerRegistry,
    WorkerEntry,
    WorkerRegistry,
    recent_outcomes,
)

# The job store's DB of the service tests (LISTEN_TEST_REDIS_URL + 1), flushed around each test.
REDIS_URL = os.environ.get("LISTEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture(params=["files", "redis"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerRegistry]:
    if request.param == "files":
        yield FileWorkerRegistry(tmp_path)
        return
    from listen_service.config import next_db

    client = redis.Redis.from_url(next_db(REDIS_URL))
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL}: {exc}")
    client.flushdb()
    yield RedisWorkerRegistry(client)
    client.flushdb()


def entry(pid: int, heartbeat: float, **changes: object) -> WorkerEntry:
    fields: dict[str, object] = {
        "node": "celery@box",
        "host": "box",
        "pid": pid,
        "concurrency": 2,
        "lanes": ("listen", "listen.bulk"),
        "started": 1000.0,
        "heartbeat": heartbeat,
    }
    return WorkerEntry(**{**fields, **changes})  # type: ignore[arg-type]


def test_an_entry_written_is_read_back_whole(registry: WorkerRegistry) -> None:
    written = entry(41, 1010.0, job="ab" * 32, job_since=1005.5, outcomes=((1001.0, True),))
    registry.put(written)
    assert registry.entries() == [written]


def test_a_new_heartbeat_replaces_the_entry_and_remove_drops_it(registry: WorkerRegistry) -> None:
    registry.put(entry(41, 1010.0))
    registry.put(entry(42, 1010.0))
    registry.put(entry(41, 1015.0, job="cd" * 32, job_since=1014.0))
    assert sorted((e.pid, e.heartbeat, e.job) for e in registry.entries()) == [
        (41, 1015.0, "cd" * 32),
        (42, 1010.0, None),
    ]
    registry.remove("box:41")
    registry.remove("box:41")  # harmless twice
    assert [e.pid for e in registry.entries()] == [42]


def test_prune_drops_only_entries_older_than_the_cutoff(registry: WorkerRegistry) -> None:
    registry.put(entry(1, 900.0))
    registry.put(entry(2, 1000.0))
    registry.put(entry(3, 1100.0))
    assert registry.prune(1000.0) == 1
    assert sorted(e.pid for e in registry.entries()) == [2, 3]


def test_alive_means_a_heartbeat_younger_than_the_stale_time() -> None:
    e = entry(1, 1000.0)
    assert e.alive(1029.9, 30.0)
    assert not e.alive(1030.0, 30.0)
    assert e.as_dict(1040.0, 30.0)["alive"] is False
    assert e.as_dict(1040.0, 30.0)["id"] == "box:1"


def test_ended_clears_the_job_and_keeps_only_recent_outcomes() -> None:
    e = entry(1, 1000.0, job="ab" * 32, job_since=999.0, outcomes=((10.0, False), (500.0, True)))
    after = e.ended(1001.0, False, since=100.0)
    assert (after.job, after.job_since) == (None, None)
    assert after.outcomes == ((500.0, True), (1001.0, False))
    for i in range(KEEP_OUTCOMES + 10):
        after = after.ended(2000.0 + i, True, since=0.0)
    assert len(after.outcomes) == KEEP_OUTCOMES
    assert after.outcomes[-1] == (2000.0 + KEEP_OUTCOMES + 9, True)


def test_recent_outcomes_count_every_process_within_the_window() -> None:
    a = entry(1, 1000.0, outcomes=((100.0, False), (900.0, False), (950.0, True)))
    b = entry(2, 1000.0, outcomes=((990.0, False),))
    counted = recent_outcomes([a, b], since=500.0)
    assert (counted.finished, counted.failed) == (3, 2)
    assert counted.failure_rate == pytest.approx(2 / 3)
    assert recent_outcomes([], since=0.0).failure_rate is None


def test_a_foreign_file_in_the_folder_is_ignored(tmp_path: Path) -> None:
    registry = FileWorkerRegistry(tmp_path)
    registry.put(entry(7, 1000.0))
    (tmp_path / "workers" / "junk.json").write_text("{not json")
    assert [e.pid for e in registry.entries()] == [7]
