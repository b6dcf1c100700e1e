"""The job store, on both back-ends: files in a temp dir, and a real Redis.

Every test runs against ``FileJobStore`` and ``RedisJobStore``. The Redis tests
use ``LISTEN_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/13``) and a
fresh key prefix per test, deleted afterwards; without a server they fail,
never skip, so that a CI without Redis cannot pass quietly.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from workers.jobs import (
    DEFAULT_TTL_S,
    FIRST_AUDIO_BOUNDS,
    FileJobStore,
    Histogram,
    Job,
    JobStore,
    QueueFull,
    RedisJobStore,
    open_store,
)
from workers.redrive import redrive
from workers.runner import kept_alive

REDIS_URL = os.environ.get("LISTEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
T0 = 1_700_000_000.0
SPAWN = multiprocessing.get_context("spawn")


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass(frozen=True)
class StoreSpec:
    """A picklable recipe for a store, so that spawned processes open the same one."""

    kind: str
    location: str  # the root directory, or the Redis URL
    prefix: str = ""

    def open(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> JobStore:
        if self.kind == "file":
            return FileJobStore(Path(self.location), clock=clock, **kwargs)
        client = redis.Redis.from_url(self.location)
        return RedisJobStore(client, self.prefix, clock=clock, **kwargs)


def redis_client() -> redis.Redis:
    """A client of the test Redis; fails the test (never skips) when there is no server."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        problem = str(exc)
    else:
        return client
    client.close()
    pytest.fail(
        f"the Redis job store tests need a Redis server at {REDIS_URL} ({problem}); "
        "start redis-server or set LISTEN_TEST_REDIS_URL",
        pytrace=False,
    )


@pytest.fixture
def file_spec(tmp_path: Path) -> StoreSpec:
    return StoreSpec("file", str(tmp_path))


@pytest.fixture
def redis_spec() -> Iterator[StoreSpec]:
    client = redis_client()
    prefix = f"listen-test:{uuid.uuid4().hex}:"
    yield StoreSpec("redis", REDIS_URL, prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["file", "redis"])
def spec(request: pytest.FixtureRequest) -> StoreSpec:
    result: StoreSpec = request.getfixturevalue(f"{request.param}_spec")
    return result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(spec: StoreSpec, clock: FakeClock) -> Iterator[JobStore]:
    s = spec.open(clock)
    yield s
    if isinstance(s, RedisJobStore):
        s.client.close()


@pytest.fixture
def job_id() -> str:
    return secrets.token_hex(32)


PAYLOAD = {"text": "Hello there. General Kenobi.", "voice": "en-gb", "rate": 170, "fmt": "mp3"}


def run_threads(n: int, fn: Callable[[], bool]) -> list[bool]:
    """Run ``fn`` in ``n`` threads released together; their results."""
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def target() -> None:
        barrier.wait()
        result = fn()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == n, "a thread did not finish"
    return results


# Targets of spawned processes: module level, so that spawn can import them.


def accept_in_child(spec: StoreSpec, job_id: str, barrier: Any, results: Any) -> None:
    store = spec.open()
    barrier.wait()
    results.put(store.accept(job_id, {"text": f"from {os.getpid()}"}))


def hold_lease_in_child(spec: StoreSpec, job_id: str, ttl: float, ready: Any) -> None:
    lease = spec.open().lease(job_id, f"child-{os.getpid()}", ttl)
    ready.put(lease is not None)
    time.sleep(60)  # killed by the test long before


# --------------------------------------------------------------------------- accept


def test_accept_creates_a_queued_job_with_its_payload(store: JobStore, job_id: str) -> None:
    assert store.get(job_id) is None
    assert store.payload(job_id) is None

    assert store.accept(job_id, PAYLOAD) is True

    assert store.get(job_id) == Job(
        id=job_id,
        status="queued",
        progress=0.0,
        error=None,
        duration_s=None,
        created=T0,
        updated=T0,
        attempts=0,  # counts starts by a worker, not enqueues
        accepted=T0,
        first_audio_s=None,
        chars=len(PAYLOAD["text"]),  # what an operator's list shows, kept on the record
    )
    assert store.payload(job_id) == PAYLOAD


def test_set_priority_rewrites_only_the_payloads_priority(store: JobStore, job_id: str) -> None:
    assert store.set_priority(job_id, "interactive") is False  # no such job
    store.accept(job_id, {**PAYLOAD, "priority": "bulk"})
    before = store.get(job_id)
    assert store.set_priority(job_id, "interactive") is True
    assert store.payload(job_id) == {**PAYLOAD, "priority": "interactive"}
    assert store.get(job_id) == before


def test_accept_has_one_winner_among_20_threads(store: JobStore) -> None:
    for _ in range(5):
        job_id = secrets.token_hex(32)
        results = run_threads(20, lambda: store.accept(job_id, PAYLOAD))  # noqa: B023
        assert results.count(True) == 1
        job = store.get(job_id)
        assert job is not None
        assert (job.status, job.attempts) == ("queued", 0)


def test_accept_has_one_winner_among_4_processes(spec: StoreSpec, job_id: str) -> None:
    barrier = SPAWN.Barrier(4)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=accept_in_child, args=(spec, job_id, barrier, results))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    assert sorted(outcomes) == [False, False, False, True]
    job = spec.open().get(job_id)
    assert job is not None
    assert (job.status, job.attempts) == ("queued", 0)


@pytest.mark.parametrize("status", ["queued", "working", "ready"])
def test_accept_is_refused_while_the_job_is_alive_or_done(
    store: JobStore, job_id: str, clock: FakeClock, status: str
) -> None:
    assert store.accept(job_id, PAYLOAD)
    if status in ("working", "ready"):
        store.start(job_id, "w1")
    if status == "ready":
        store.finish(job_id, 3.5)
    before = store.get(job_id)
    assert before is not None and before.status == status
    clock.advance(10)

    assert store.accept(job_id, {"text": "other"}) is False

    assert store.get(job_id) == before
    assert store.payload(job_id) == PAYLOAD


def test_accept_retries_a_failed_job(store: JobStore, job_id: str, clock: FakeClock) -> None:
    assert store.accept(job_id, PAYLOAD)
    assert store.start(job_id, "w1") == 1
    store.fail(job_id, "engine_failed", "espeak died")
    later = clock.advance(30)

    assert store.accept(job_id, {**PAYLOAD, "rate": 171}) is True
    assert store.accept(job_id, PAYLOAD) is False

    assert store.get(job_id) == Job(
        id=job_id,
        status="queued",
        progress=0.0,
        error=None,
        duration_s=None,
        created=T0,
        updated=later,
        attempts=0,  # a new POST gives the job a fresh set of attempts
        accepted=later,  # created stays the first acceptance; accepted is this one
        first_audio_s=None,
        chars=len(PAYLOAD["text"]),
    )
    assert store.payload(job_id) == {**PAYLOAD, "rate": 171}


def test_retry_of_a_failed_job_has_one_winner(store: JobStore, job_id: str) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.fail(job_id, "engine_failed", "boom")

    assert run_threads(20, lambda: store.accept(job_id, PAYLOAD)).count(True) == 1
    job = store.get(job_id)
    assert job is not None and (job.status, job.attempts) == ("queued", 0)


# --------------------------------------------------------------------------- lifecycle


def test_lifecycle_start_heartbeat_finish(store: JobStore, job_id: str, clock: FakeClock) -> None:
    assert store.accept(job_id, PAYLOAD)

    t1 = clock.advance(1)
    store.start(job_id, "worker-1@host")
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.progress, job.updated) == ("working", 0.0, t1)

    t2 = clock.advance(2)
    store.heartbeat(job_id, 0.25)
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.progress, job.updated) == ("working", 0.25, t2)

    t3 = clock.advance(3)
    store.finish(job_id, 42.125)
    job = store.get(job_id)
    assert job is not None
    expected = {
        "id": job_id,
        "status": "ready",
        "progress": 1.0,
        "error": None,
        "duration_s": 42.125,
        "created": T0,
        "updated": t3,
        "attempts": 1,
        "accepted": T0,
        "first_audio_s": None,
        "title": None,
        "site": "",
        "chars": len(PAYLOAD["text"]),
        "worker": "worker-1@host",
        "synthesis_s": None,
        "cancel_requested": False,
    }
    assert job.as_dict() == expected
    assert json.loads(json.dumps(job.as_dict())) == expected


def test_fail_records_the_error(store: JobStore, job_id: str, clock: FakeClock) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    store.heartbeat(job_id, 0.5)
    t = clock.advance(5)

    store.fail(job_id, "engine_timeout", "no audio after 30 s — «Ωμέγα»")

    job = store.get(job_id)
    assert job is not None
    assert job.as_dict() == {
        "id": job_id,
        "status": "failed",
        "progress": 0.5,
        "error": {"code": "engine_timeout", "message": "no audio after 30 s — «Ωμέγα»"},
        "duration_s": None,
        "created": T0,
        "updated": t,
        "attempts": 1,
        "accepted": T0,
        "first_audio_s": None,
        "title": None,
        "site": "",
        "chars": len(PAYLOAD["text"]),
        "worker": "w1",
        "synthesis_s": None,
        "cancel_requested": False,
    }


def test_writes_to_a_missing_job_raise_and_create_nothing(store: JobStore, job_id: str) -> None:
    with pytest.raises(KeyError):
        store.start(job_id, "w1")
    with pytest.raises(KeyError):
        store.heartbeat(job_id, 0.5)
    with pytest.raises(KeyError):
        store.finish(job_id, 1.0)
    with pytest.raises(KeyError):
        store.fail(job_id, "x", "y")
    assert store.get(job_id) is None
    assert store.counts() == {"queued": 0, "working": 0, "ready": 0, "failed": 0}


@pytest.mark.parametrize("progress", [-0.1, 1.5, float("nan")])
def test_heartbeat_rejects_progress_outside_0_1(
    store: JobStore, job_id: str, progress: float
) -> None:
    assert store.accept(job_id, PAYLOAD)
    with pytest.raises(ValueError):
        store.heartbeat(job_id, progress)


def test_forget_removes_the_job_and_a_new_accept_starts_afresh(
    store: JobStore, job_id: str, clock: FakeClock
) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")

    store.forget(job_id)
    store.forget(job_id)  # harmless twice

    assert store.get(job_id) is None
    assert store.payload(job_id) is None
    t = clock.advance(1)
    assert store.accept(job_id, PAYLOAD)
    job = store.get(job_id)
    assert job is not None
    assert (job.attempts, job.created) == (0, t)


# --------------------------------------------------------------------------- take-over


def test_take_over_stale_only_when_stale(store: JobStore, job_id: str, clock: FakeClock) -> None:
    assert store.take_over_stale(job_id, T0 + 1) is False  # no job
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    store.heartbeat(job_id, 0.75)

    assert store.take_over_stale(job_id, T0) is False  # updated == stale_before: not stale
    now = clock.advance(120)
    assert store.take_over_stale(job_id, now - 60) is True

    assert store.get(job_id) == Job(
        id=job_id,
        status="queued",
        progress=0.0,
        error=None,
        duration_s=None,
        created=T0,
        updated=now,
        attempts=1,  # a take-over is not an attempt; the next start is
        accepted=T0,
        first_audio_s=None,
        chars=len(PAYLOAD["text"]),
    )
    assert store.take_over_stale(job_id, now - 60) is False  # fresh again
    assert store.payload(job_id) == PAYLOAD


def test_take_over_stale_also_requeues_a_lost_queued_job(
    store: JobStore, job_id: str, clock: FakeClock
) -> None:
    assert store.accept(job_id, PAYLOAD)
    now = clock.advance(600)
    assert store.take_over_stale(job_id, now - 300) is True
    job = store.get(job_id)
    assert job is not None and (job.status, job.attempts) == ("queued", 0)


@pytest.mark.parametrize("final", ["ready", "failed"])
def test_take_over_stale_never_touches_finished_jobs(
    store: JobStore, job_id: str, clock: FakeClock, final: str
) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    if final == "ready":
        store.finish(job_id, 1.0)
    else:
        store.fail(job_id, "engine_failed", "boom")
    before = store.get(job_id)
    now = clock.advance(10_000)

    assert store.take_over_stale(job_id, now) is False
    assert store.get(job_id) == before


def test_take_over_stale_has_one_winner_among_20_threads(
    store: JobStore, job_id: str, clock: FakeClock
) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    now = clock.advance(120)

    assert run_threads(20, lambda: store.take_over_stale(job_id, now - 60)).count(True) == 1
    job = store.get(job_id)
    assert job is not None and (job.status, job.attempts) == ("queued", 1)


# --------------------------------------------------------------------------- leases


def test_lease_is_exclusive_until_released(store: JobStore, job_id: str) -> None:
    first = store.lease(job_id, "w1", ttl=30)
    assert first is not None
    assert first.owner == "w1"
    assert store.lease(job_id, "w2", ttl=30) is None
    assert store.lease(job_id, "w1", ttl=30) is None  # not reentrant
    assert first.renew() is True
    assert store.lease(job_id, "w2", ttl=30) is None

    first.release()
    first.release()  # harmless twice
    assert first.renew() is False

    second = store.lease(job_id, "w2", ttl=30)
    assert second is not None
    with second as entered:
        assert entered is second
        assert store.lease(job_id, "w3", ttl=30) is None
    third = store.lease(job_id, "w3", ttl=30)
    assert third is not None
    third.release()


def test_lease_has_one_winner_among_20_threads(store: JobStore, job_id: str) -> None:
    leases: list[Any] = []

    def take() -> bool:
        lease = store.lease(job_id, f"t{threading.get_ident()}", ttl=30)
        leases.append(lease)
        return lease is not None

    assert run_threads(20, take).count(True) == 1
    for lease in leases:
        if lease is not None:
            lease.release()


def test_forget_leaves_a_held_lease_alone(store: JobStore, job_id: str) -> None:
    assert store.accept(job_id, PAYLOAD)
    lease = store.lease(job_id, "w1", ttl=30)
    assert lease is not None

    store.forget(job_id)

    assert store.lease(job_id, "w2", ttl=30) is None
    assert lease.renew() is True
    lease.release()
    assert store.lease(job_id, "w2", ttl=30) is not None


def test_redis_lease_expires_unless_renewed(redis_spec: StoreSpec, job_id: str) -> None:
    store = redis_spec.open()
    renewed = store.lease(job_id, "renewer", ttl=0.4)
    assert renewed is not None
    for _ in range(4):
        time.sleep(0.2)
        assert renewed.renew() is True
    assert store.lease(job_id, "w2", ttl=0.4) is None  # 0.8 s in, still held
    renewed.release()

    other_id = secrets.token_hex(32)
    lapsed = store.lease(job_id, "sleeper", ttl=0.3)
    lapsed_too = store.lease(other_id, "sleeper", ttl=0.3)
    assert lapsed is not None and lapsed_too is not None
    assert store.lease(job_id, "w2", ttl=30) is None
    time.sleep(0.5)
    successor = store.lease(job_id, "w2", ttl=30)
    other_successor = store.lease(other_id, "w2", ttl=30)
    assert successor is not None and other_successor is not None

    # The owner check: a holder that slept through its ttl can neither extend
    # nor delete its successor's lease.
    assert lapsed.renew() is False
    lapsed_too.release()
    assert store.lease(job_id, "w3", ttl=30) is None
    assert store.lease(other_id, "w3", ttl=30) is None
    assert isinstance(store, RedisJobStore)
    assert store.client.pttl(f"{redis_spec.prefix}lease:{job_id}") > 25_000
    successor.release()
    other_successor.release()


def test_lease_of_a_killed_holder(spec: StoreSpec, job_id: str) -> None:
    """Files: freed as soon as the holder dies. Redis: held until its ttl runs out."""
    ready = SPAWN.Queue()
    child = SPAWN.Process(target=hold_lease_in_child, args=(spec, job_id, 1.5, ready))
    child.start()
    try:
        assert ready.get(timeout=60) is True
        store = spec.open()
        assert store.lease(job_id, "parent", ttl=30) is None
        assert store.lease_held(job_id) is True
        if spec.kind == "file":
            assert store.lease_left(job_id) is None  # held for as long as its holder lives
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL

    if spec.kind == "redis":
        assert store.lease(job_id, "parent", ttl=30) is None
        assert store.lease_held(job_id) is True
        assert 0 < (store.lease_left(job_id) or 0) <= 1.5
        time.sleep(1.6)
    assert store.lease_held(job_id) is False
    assert store.lease_left(job_id) == 0
    lease = store.lease(job_id, "parent", ttl=30)
    assert lease is not None
    assert store.lease_held(job_id) is True
    lease.release()
    assert store.lease_held(job_id) is False


def test_a_heartbeat_thread_keeps_a_short_lease_without_progress(
    redis_spec: StoreSpec, job_id: str
) -> None:
    store = redis_spec.open()
    # A 2 s lease renewed every 0.5 s: shorter ones expired now and then on a
    # loaded 2-core machine, where a renewal can be late by a few hundred ms.
    lease = store.lease(job_id, "slow-sentence", ttl=2.0)
    assert lease is not None
    with lease, kept_alive(lease, 0.5):
        time.sleep(5.0)  # no progress at all, 2.5 TTLs
        assert store.lease(job_id, "thief", ttl=30) is None
    assert store.lease_held(job_id) is False  # released on exit, not left to expire


# ------------------------------------------------------------------ unfinished index and caps


def test_unfinished_index_follows_the_jobs_life(store: JobStore, clock: FakeClock) -> None:
    ready, failed, forgotten, working, queued = (secrets.token_hex(32) for _ in range(5))
    for job_id in (ready, failed, forgotten, working, queued):
        assert store.accept(job_id, PAYLOAD)
    for job_id in (ready, failed, working):
        assert store.start(job_id, "w1") == 1
    store.finish(ready, 1.0)
    store.fail(failed, "engine_failed", "boom")
    store.forget(forgotten)

    assert sorted(store.unfinished()) == sorted([working, queued])
    assert store.accept(failed, PAYLOAD)  # a retried job is unfinished again
    assert sorted(store.unfinished()) == sorted([working, queued, failed])


def test_unfinished_prunes_entries_whose_record_vanished(spec: StoreSpec, job_id: str) -> None:
    store = spec.open()
    assert store.accept(job_id, PAYLOAD)
    if isinstance(store, RedisJobStore):
        store.client.delete(store.key("job", job_id))  # as when the record expires
    else:
        (Path(spec.location) / "jobs" / job_id[:2] / f"{job_id}.json").unlink()
    assert store.unfinished() == []
    # Pruned, not just skipped: the cap no longer counts it.
    assert store.accept(secrets.token_hex(32), PAYLOAD, total_limit=1)


def test_site_cap_refuses_new_jobs_but_not_known_ones(store: JobStore) -> None:
    ids = [secrets.token_hex(32) for _ in range(3)]
    assert store.accept(ids[0], PAYLOAD, site="news", site_limit=2)
    assert store.accept(ids[1], PAYLOAD, site="news", site_limit=2)
    with pytest.raises(QueueFull) as full:
        store.accept(ids[2], PAYLOAD, site="news", site_limit=2)
    assert (full.value.scope, full.value.limit) == ("site", 2)
    assert store.get(ids[2]) is None and store.payload(ids[2]) is None
    # A job already queued is answered as before, not refused.
    assert store.accept(ids[0], PAYLOAD, site="news", site_limit=2) is False
    # Other sites, and clients without one, have their own count.
    assert store.accept(ids[2], PAYLOAD, site="blog", site_limit=2)
    store.finish(ids[0], 1.0)
    assert store.accept(secrets.token_hex(32), PAYLOAD, site="news", site_limit=2)


def test_accept_resets_a_ready_job_only_when_its_audio_is_gone(
    store: JobStore, job_id: str
) -> None:
    assert store.accept(job_id, PAYLOAD, site="news")
    store.start(job_id, "w1")
    store.finish(job_id, 12.5)
    assert store.accept(job_id, PAYLOAD, site="news") is False
    assert store.accept(job_id, PAYLOAD, site="news", audio_gone=True)
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.duration_s) == ("queued", 0, None)
    assert store.unfinished() == [job_id]
    # Filed under its site again, so the site's cap counts it.
    with pytest.raises(QueueFull):
        store.accept(secrets.token_hex(32), PAYLOAD, site="news", site_limit=1)
    # Queued now: a second poll that saw it ready does not accept it again.
    assert store.accept(job_id, PAYLOAD, site="news", audio_gone=True) is False


def test_reset_of_an_evicted_job_respects_the_caps(store: JobStore, job_id: str) -> None:
    assert store.accept(job_id, PAYLOAD, site="news")
    store.finish(job_id, 1.0)
    assert store.accept(secrets.token_hex(32), PAYLOAD, site="news")
    with pytest.raises(QueueFull):
        store.accept(job_id, PAYLOAD, site="news", site_limit=1, audio_gone=True)
    job = store.get(job_id)
    assert job is not None and job.status == "ready"


def test_reset_of_an_evicted_job_has_one_winner_among_20_threads(
    store: JobStore, job_id: str
) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.finish(job_id, 1.0)
    results = run_threads(20, lambda: store.accept(job_id, PAYLOAD, audio_gone=True))
    assert results.count(True) == 1
    job = store.get(job_id)
    assert job is not None and job.status == "queued"


def test_total_cap_counts_every_unfinished_job(store: JobStore) -> None:
    assert store.accept(secrets.token_hex(32), PAYLOAD, site="a", total_limit=2)
    assert store.accept(secrets.token_hex(32), PAYLOAD, total_limit=2)
    with pytest.raises(QueueFull) as full:
        store.accept(secrets.token_hex(32), PAYLOAD, site="b", total_limit=2)
    assert full.value.scope == "all"


def test_site_cap_holds_under_20_concurrent_accepts(store: JobStore) -> None:
    def accept() -> bool:
        try:
            return store.accept(secrets.token_hex(32), PAYLOAD, site="news", site_limit=5)
        except QueueFull:
            return False

    assert run_threads(20, accept).count(True) == 5
    assert len(store.unfinished()) == 5


def test_touch_and_requeue_change_only_unfinished_jobs(
    store: JobStore, job_id: str, clock: FakeClock
) -> None:
    assert store.touch(job_id) is False and store.requeue(job_id) is False  # no job
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    store.heartbeat(job_id, 0.5)
    t1 = clock.advance(5)
    assert store.touch(job_id) is True
    job = store.get(job_id)
    assert job is not None and (job.status, job.progress, job.updated) == ("working", 0.5, t1)
    t2 = clock.advance(5)
    assert store.requeue(job_id) is True
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.progress, job.updated, job.attempts) == ("queued", 0.0, t2, 1)
    store.finish(job_id, 1.0)
    before = store.get(job_id)
    clock.advance(5)
    assert store.touch(job_id) is False and store.requeue(job_id) is False
    assert store.get(job_id) == before


# --------------------------------------------------------------------------- re-driving lost jobs


def test_redrive_enqueues_only_lost_jobs_once(store: JobStore, clock: FakeClock) -> None:
    waiting_id, held_id, lost_id, fresh_id, working_lost = (secrets.token_hex(32) for _ in range(5))
    for job_id in (waiting_id, held_id, lost_id, working_lost):
        assert store.accept(job_id, {"text": job_id})
    store.start(working_lost, "w-dead")
    lease = store.lease(held_id, "w-alive", ttl=3600)
    assert lease is not None
    store.start(held_id, "w-alive")
    now = clock.advance(600)
    assert store.accept(fresh_id, {"text": fresh_id})
    enqueued: list[tuple[str, Any]] = []
    asked: list[set[str]] = []
    dropped: list[str] = []

    class Broker:
        def waiting(self, job_ids: Collection[str]) -> set[str]:
            asked.append(set(job_ids))
            return {waiting_id} & set(job_ids)

        def drop_delivered(self, job_id: str) -> None:
            dropped.append(job_id)

    def run() -> list[str]:
        return redrive(
            store,
            store.unfinished(),
            now=now,
            stale_s=120,
            lease_s=10,
            broker=Broker(),
            enqueue=lambda job_id, payload: enqueued.append((job_id, payload)),
        )

    assert sorted(run()) == sorted([lost_id, working_lost])
    assert sorted(enqueued) == sorted(
        [(lost_id, {"text": lost_id}), (working_lost, {"text": working_lost})]
    )
    job = store.get(working_lost)
    assert job is not None and (job.status, job.attempts) == ("queued", 1)
    waited = store.get(waiting_id)
    assert waited is not None and (waited.status, waited.updated) == ("queued", now)  # touched
    assert sorted(dropped) == sorted([lost_id, working_lost])
    assert asked == [{waiting_id, lost_id, working_lost}]  # only about suspects
    assert run() == [] and len(enqueued) == 2  # a second sweep finds nothing more
    assert len(asked) == 1  # and, with no suspect left, does not even ask the broker
    lease.release()


def test_a_job_waiting_for_its_retry_does_not_look_lost(store: JobStore, clock: FakeClock) -> None:
    """The retry of a failed attempt waits (up to 60 s) in a worker's memory, not in
    the broker: with LISTEN_STALE_SECONDS below that, the job must still not be
    re-driven before the retry was due."""
    from listen_service.brokers import OpaqueBroker

    job_id = secrets.token_hex(32)
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    assert store.requeue(job_id, wait=60)
    enqueued: list[str] = []

    def sweep(after: float) -> list[str]:
        return redrive(
            store,
            [job_id],
            now=T0 + after,
            stale_s=30,
            lease_s=10,
            broker=OpaqueBroker(),
            enqueue=lambda job_id, payload: enqueued.append(job_id),
        )

    assert sweep(45) == [] and sweep(89) == []
    clock.advance(91)
    assert sweep(91) == [job_id] and enqueued == [job_id]  # the retry never came: lost


# --------------------------------------------------------------------------- payloads, counts, ids


def test_payload_roundtrips_100000_characters_of_unicode(store: JobStore, job_id: str) -> None:
    alphabet = 'Grüße, 世界! مرحبا. Ελληνικά — e\u0301 🎧 \u200d\n\t"quotes" \\ '
    text = (alphabet * (100_000 // len(alphabet) + 1))[:100_000]
    payload = {"text": text, "voice": "zh", "volume": 0.5, "meta": {"title": "標題", "n": [1, 2]}}
    assert len(text) == 100_000

    assert store.accept(job_id, payload)

    assert store.payload(job_id) == payload


def test_payload_keeps_lone_surrogates(store: JobStore, job_id: str) -> None:
    payload = {"text": "broken \ud83d pair"}
    assert store.accept(job_id, payload)
    assert store.payload(job_id) == payload


def test_payload_must_be_json(store: JobStore, job_id: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        store.accept(job_id, {"text": object()})
    with pytest.raises(ValueError):
        store.accept(job_id, {"volume": float("nan")})
    assert store.get(job_id) is None


def test_counts_jobs_per_status(store: JobStore) -> None:
    ids = [secrets.token_hex(32) for _ in range(7)]
    for job_id in ids:
        assert store.accept(job_id, PAYLOAD)
    for job_id in ids[:5]:
        store.start(job_id, "w1")
    for job_id in ids[:3]:
        store.finish(job_id, 1.0)
    store.fail(ids[0], "engine_failed", "boom")
    store.forget(ids[6])

    assert store.counts() == {"queued": 1, "working": 2, "ready": 2, "failed": 1}


BAD_IDS = [
    "",
    "abc",
    "A" * 64,
    "g" * 64,
    "0" * 63,
    "0" * 65,
    "../" + "0" * 61,
    "0" * 63 + "\n",
    "*" * 64,
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_are_rejected_by_every_method(store: JobStore, bad: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.get(bad),
        lambda: store.payload(bad),
        lambda: store.accept(bad, PAYLOAD),
        lambda: store.take_over_stale(bad, T0),
        lambda: store.start(bad, "w1"),
        lambda: store.heartbeat(bad, 0.5),
        lambda: store.finish(bad, 1.0),
        lambda: store.fail(bad, "x", "y"),
        lambda: store.forget(bad),
        lambda: store.lease(bad, "w1", 30),
        lambda: store.lease_held(bad),
        lambda: store.touch(bad),
        lambda: store.requeue(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="invalid job id"):
            call()
    assert store.counts() == {"queued": 0, "working": 0, "ready": 0, "failed": 0}


# --------------------------------------------------------------------------- back-end specifics


def test_redis_keys_live_under_the_prefix_and_expire(redis_spec: StoreSpec, job_id: str) -> None:
    store = redis_spec.open(ttl_seconds=60)
    assert isinstance(store, RedisJobStore)
    client = store.client
    job_key, payload_key = (
        f"{redis_spec.prefix}job:{job_id}",
        f"{redis_spec.prefix}payload:{job_id}",
    )

    assert store.accept(job_id, PAYLOAD)
    lease = store.lease(job_id, "w1", ttl=30)
    assert lease is not None
    assert {k.decode() for k in client.scan_iter(match=redis_spec.prefix + "*")} == {
        job_key,
        payload_key,
        f"{redis_spec.prefix}lease:{job_id}",
        f"{redis_spec.prefix}unfinished",
        f"{redis_spec.prefix}recent",
    }
    for key in (job_key, payload_key):
        assert 55_000 < client.pttl(key) <= 60_000

    for key in (job_key, payload_key):
        client.pexpire(key, 1_000)
    store.heartbeat(job_id, 0.5)  # every write refreshes the expiry
    for key in (job_key, payload_key):
        assert client.pttl(key) > 55_000
    lease.release()


def test_redis_default_ttl_is_a_week(redis_spec: StoreSpec, job_id: str) -> None:
    store = redis_spec.open()
    assert isinstance(store, RedisJobStore)
    assert store.accept(job_id, PAYLOAD)
    assert DEFAULT_TTL_S == 7 * 24 * 3600
    assert store.client.pttl(f"{redis_spec.prefix}job:{job_id}") > DEFAULT_TTL_S * 1000 - 60_000


def test_file_layout_and_no_debris(file_spec: StoreSpec, job_id: str) -> None:
    store = file_spec.open()
    directory = Path(file_spec.location) / "jobs" / job_id[:2]
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    store.heartbeat(job_id, 0.5)
    lease = store.lease(job_id, "w1", ttl=30)
    assert lease is not None
    with lease:
        assert (directory / f"{job_id}.lease").read_text() == "w1"
    store.finish(job_id, 2.0)

    assert json.loads((directory / f"{job_id}.json").read_text())["status"] == "ready"
    assert json.loads((directory / f"{job_id}.payload.json").read_text()) == PAYLOAD
    assert not list(directory.glob(".tmp-*"))
    assert not (directory / f"{job_id}.lease").exists()  # released leases leave nothing

    store.forget(job_id)
    assert list(directory.iterdir()) == []


def test_open_store_picks_the_back_end(tmp_path: Path) -> None:
    file_store = open_store("", tmp_path)
    assert isinstance(file_store, FileJobStore)
    assert file_store.root == tmp_path / "jobs"

    redis_client().close()  # fail clearly, not deep inside, when there is no server
    redis_store = open_store(REDIS_URL, tmp_path)
    assert isinstance(redis_store, RedisJobStore)
    assert redis_store.prefix == "listen:"
    assert redis_store.client.ping()
    redis_store.client.close()


# ------------------------------------------------------------------ a Redis that stops answering


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A TCP port that accepts connections (the kernel's backlog) but never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def test_a_silent_redis_fails_the_call_instead_of_hanging(
    silent_redis_url: str, tmp_path: Path, job_id: str
) -> None:
    store = open_store(silent_redis_url, tmp_path, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        store.get(job_id)
    assert time.monotonic() - started < 3


def test_a_stuck_heartbeat_does_not_hold_the_job(silent_redis_url: str, job_id: str) -> None:
    from workers.jobs import Lease
    from workers.runner import JOIN_TIMEOUT_S

    class SilentLease(Lease):
        """Renewed on a Redis that never answers, by a client without timeouts."""

        def __init__(self) -> None:
            super().__init__(job_id, "w1")
            self.client = redis.Redis.from_url(silent_redis_url)

        def renew(self) -> bool:
            return bool(self.client.ping())

        def release(self) -> None:
            pass

    def job() -> None:
        with kept_alive(SilentLease(), 0.05):
            time.sleep(0.2)  # the heartbeat is now stuck in ping()

    started = time.monotonic()
    worker = threading.Thread(target=job, daemon=True)
    worker.start()
    worker.join(JOIN_TIMEOUT_S + 5)
    assert not worker.is_alive(), "kept_alive waited for ever on its heartbeat"
    assert time.monotonic() - started < JOIN_TIMEOUT_S + 2


# --------------------------------------------------------------------------- time to first audio


def record_first_audio_in_child(spec: StoreSpec, job_ids: list[str], barrier: Any) -> None:
    store = spec.open()
    barrier.wait()
    for n, job_id in enumerate(job_ids):
        store.first_audio(job_id, 0.2 * n)


def test_first_audio_is_kept_on_the_record_and_counted(
    store: JobStore, job_id: str, clock: FakeClock
) -> None:
    assert store.first_audio_histogram() == Histogram.empty()
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    job = store.get(job_id)
    assert job is not None and job.first_audio_s is None

    store.first_audio(job_id, 0.3)

    job = store.get(job_id)
    assert job is not None and job.first_audio_s == 0.3
    hist = store.first_audio_histogram()
    assert hist.bounds == FIRST_AUDIO_BOUNDS == (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    assert hist.counts == (0, 0, 1, 1, 1, 1, 1, 1)  # cumulative: 0.3 is within 0.5 and up
    assert (hist.count, hist.sum) == (1, 0.3)

    store.first_audio(job_id, 45.0)  # past the last bound: in +Inf only
    hist = store.first_audio_histogram()
    assert hist.counts == (0, 0, 1, 1, 1, 1, 1, 1)
    assert hist.count == 2
    assert hist.sum == pytest.approx(45.3)


def test_a_new_attempt_and_a_new_acceptance_clear_first_audio(
    store: JobStore, job_id: str, clock: FakeClock
) -> None:
    assert store.accept(job_id, PAYLOAD)
    store.start(job_id, "w1")
    store.first_audio(job_id, 0.4)
    store.start(job_id, "w2")  # the worker died; another starts again
    job = store.get(job_id)
    assert job is not None and (job.attempts, job.first_audio_s) == (2, None)

    store.first_audio(job_id, 1.5)
    store.fail(job_id, "engine_failed", "boom")
    later = clock.advance(60)
    assert store.accept(job_id, PAYLOAD)
    job = store.get(job_id)
    assert job is not None
    assert (job.created, job.accepted, job.first_audio_s) == (T0, later, None)
    assert store.first_audio_histogram().count == 2  # the history stays


def test_first_audio_of_a_missing_job_raises_and_counts_nothing(
    store: JobStore, job_id: str
) -> None:
    with pytest.raises(KeyError):
        store.first_audio(job_id, 0.5)
    with pytest.raises(ValueError, match="finite number"):
        store.first_audio(job_id, float("nan"))
    assert store.get(job_id) is None
    assert store.first_audio_histogram() == Histogram.empty()


def test_the_histogram_adds_up_across_worker_processes(spec: StoreSpec) -> None:
    store = spec.open()
    batches = [[secrets.token_hex(32) for _ in range(5)] for _ in range(4)]
    for job_id in (j for batch in batches for j in batch):
        assert store.accept(job_id, PAYLOAD)
    barrier = SPAWN.Barrier(4)
    procs = [
        SPAWN.Process(target=record_first_audio_in_child, args=(spec, batch, barrier))
        for batch in batches
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    hist = store.first_audio_histogram()
    # Each process recorded 0, 0.2, 0.4, 0.6 and 0.8 s: none lost to a race.
    assert hist.count == 20
    assert hist.counts == (4, 8, 12, 20, 20, 20, 20, 20)
    assert hist.sum == pytest.approx(4 * 2.0)
    for job_id, seconds in zip(batches[0], (0.0, 0.2, 0.4, 0.6, 0.8), strict=True):
        job = store.get(job_id)
        assert job is not None and job.first_audio_s == pytest.approx(seconds)


# --------------------------------------------------------------------------- operators' view


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_a_record_keeps_what_an_operators_list_shows(store: JobStore, job_id: str) -> None:
    payload = {**PAYLOAD, "title": "Ωμέγα and friends"}
    assert store.accept(job_id, payload, site="news.example")
    store.start(job_id, "host:123")
    store.finish(job_id, 4.5, synthesis_s=1.25)

    job = store.get(job_id)
    assert job is not None
    assert (job.title, job.site, job.chars, job.worker) == (
        "Ωμέγα and friends",
        "news.example",
        len(PAYLOAD["text"]),
        "host:123",
    )
    assert (job.duration_s, job.synthesis_s, job.attempts) == (4.5, 1.25, 1)


def test_an_empty_title_is_kept_and_a_new_accept_clears_the_last_run(
    store: JobStore, job_id: str
) -> None:
    assert store.accept(job_id, {**PAYLOAD, "title": ""})
    store.start(job_id, "w1")
    store.fail(job_id, "encoder_failed", "boom")
    job = store.get(job_id)
    assert job is not None and job.title == ""
    assert store.accept(job_id, {"text": "Shorter."})
    job = store.get(job_id)
    assert job is not None
    assert (job.title, job.chars, job.error, job.synthesis_s) == (None, 8, None, None)


def test_list_jobs_newest_first_by_status_and_site(store: JobStore, clock: FakeClock) -> None:
    ids = [secrets.token_hex(32) for _ in range(4)]
    for n, (job_id, site) in enumerate(zip(ids, ["a", "b", "a", ""], strict=True)):
        clock.advance(1)
        assert store.accept(job_id, {"text": "x" * (n + 1)}, site=site)
    store.start(ids[0], "w1")
    store.fail(ids[0], "encoder_failed", "exit 1")
    store.start(ids[1], "w1")

    assert [j.id for j in store.list_jobs()] == ids[::-1]
    assert [j.id for j in store.list_jobs(limit=2)] == [ids[3], ids[2]]
    assert [j.id for j in store.list_jobs(site="a")] == [ids[2], ids[0]]
    assert [j.id for j in store.list_jobs(site="")] == [ids[3]]
    failed = store.list_jobs(status="failed")
    assert [(j.id, j.error) for j in failed] == [
        (ids[0], {"code": "encoder_failed", "message": "exit 1"})
    ]
    assert [j.id for j in store.list_jobs(status="working", site="b")] == [ids[1]]
    assert store.list_jobs(status="ready") == []
    # A retry (a new accept) brings the job to the top.
    clock.advance(1)
    assert store.accept(ids[0], {"text": "again"}, site="a")
    assert store.list_jobs(limit=1)[0].id == ids[0]
    with pytest.raises(ValueError):
        store.list_jobs(limit=0)


def test_list_jobs_pages_past_the_first_page(store: JobStore, clock: FakeClock) -> None:
    ids = [secrets.token_hex(32) for _ in range(130)]
    for job_id in ids:
        clock.advance(1)
        store.accept(job_id, PAYLOAD, site="old" if job_id == ids[0] else "new")
    # The only "old" job is the oldest: past the Redis store's first page of 100.
    assert [j.id for j in store.list_jobs(site="old")] == [ids[0]]
    assert len(store.list_jobs(limit=130)) == 130


def test_accepted_since_reads_the_jobs_of_a_time_window(store: JobStore, clock: FakeClock) -> None:
    ids = [secrets.token_hex(32) for _ in range(3)]
    times = []
    for job_id in ids:
        clock.advance(60)
        times.append(clock())
        assert store.accept(job_id, PAYLOAD)
    store.start(ids[1], "w1")
    store.finish(ids[1], 2.0, synthesis_s=0.5)
    assert store.accepted_since(clock() + 1) == []
    assert {j.id for j in store.accepted_since(times[1])} == set(ids[1:])
    found = {j.id: j for j in store.accepted_since(times[0])}
    assert set(found) == set(ids)
    assert (found[ids[1]].status, found[ids[1]].synthesis_s) == ("ready", 0.5)
    # A forgotten job is gone from the window too.
    store.forget(ids[2])
    assert {j.id for j in store.accepted_since(times[0])} == set(ids[:2])


def test_cancel_fails_a_queued_job_and_flags_a_working_one(store: JobStore) -> None:
    queued, working, ready = (secrets.token_hex(32) for _ in range(3))
    for job_id in (queued, working, ready):
        assert store.accept(job_id, PAYLOAD)
    store.start(working, "w1")
    store.start(ready, "w1")
    store.finish(ready, 1.0)

    assert store.cancel(queued) == "queued"
    job = store.get(queued)
    assert job is not None and job.status == "failed"
    assert job.error is not None and job.error["code"] == "cancelled"
    assert queued not in store.unfinished()

    assert store.heartbeat(working, 0.2) is False
    assert store.cancel(working) == "working"
    job = store.get(working)
    assert job is not None and (job.status, job.cancel_requested) == ("working", True)
    assert store.heartbeat(working, 0.3) is True  # what the runner stops on
    store.finish(working, 2.0)  # too late: the audio was made before the next heartbeat
    job = store.get(working)
    assert job is not None and (job.status, job.cancel_requested) == ("ready", False)

    assert store.cancel(ready) == "ready"
    job = store.get(ready)
    assert job is not None and (job.status, job.cancel_requested) == ("ready", False)
    assert store.cancel(secrets.token_hex(32)) is None

    # Posted again later, the job runs afresh: the flag is gone.
    assert store.accept(queued, PAYLOAD)
    store.start(queued, "w2")
    assert store.heartbeat(queued, 0.1) is False


def test_a_queued_job_cancelled_as_its_worker_starts_it_still_stops(
    store: JobStore, job_id: str
) -> None:
    assert store.accept(job_id, PAYLOAD)
    assert store.cancel(job_id) == "queued"
    store.start(job_id, "w1")  # a worker that read the record just before the cancel
    assert store.heartbeat(job_id, 0.0) is True


def test_file_records_expire_finished_first_then_abandoned(
    file_spec: StoreSpec, clock: FakeClock
) -> None:
    store = file_spec.open(clock, ttl_seconds=100, abandoned_seconds=1000)
    done, failed, waiting = (secrets.token_hex(32) for _ in range(3))
    for job_id in (done, failed, waiting):
        assert store.accept(job_id, PAYLOAD)
    store.start(done, "w1")
    store.finish(done, 1.0)
    store.fail(failed, "encoder_failed", "boom")

    clock.advance(100)
    assert {j.id for j in store.list_jobs()} == {done, failed, waiting}  # not past yet
    clock.advance(1)
    assert [j.id for j in store.list_jobs()] == [waiting]
    assert store.get(done) is None and store.payload(failed) is None

    clock.advance(898)
    store.touch(waiting)  # a sign of life (the sweep found its message waiting)
    clock.advance(999)
    assert store.expire() == 0
    assert [j.id for j in store.list_jobs()] == [waiting]
    clock.advance(2)  # 1001 s without a sign of life: abandoned
    assert store.expire() == 1
    assert store.get(waiting) is None
    assert store.list_jobs() == [] and store.unfinished() == []


def test_redis_records_expire_finished_first_then_abandoned(redis_spec: StoreSpec) -> None:
    store = redis_spec.open(ttl_seconds=0.3, abandoned_seconds=3600)
    assert isinstance(store, RedisJobStore)
    done, waiting = secrets.token_hex(32), secrets.token_hex(32)
    for job_id in (done, waiting):
        assert store.accept(job_id, PAYLOAD)
    assert store.client.pttl(store.key("job", done)) > 3_000_000  # unfinished: abandoned time
    store.start(done, "w1")
    store.finish(done, 1.0)
    assert store.client.pttl(store.key("payload", done)) <= 300

    wait_until(lambda: store.get(done) is None)
    assert store.payload(done) is None
    assert [j.id for j in store.list_jobs()] == [waiting]
    assert store.client.zcard(store.recent_key) == 1  # the expired id left the index
    assert store.get(waiting) is not None
    store.client.delete(store.key("job", waiting))  # as if abandoned for an hour
    assert store.expire() == 1
    assert store.client.zcard(store.recent_key) == 0


def test_open_store_keeps_unfinished_jobs_well_past_the_stale_time(tmp_path: Path) -> None:
    store = open_store("", tmp_path, record_s=60, stale_s=120)
    assert isinstance(store, FileJobStore)
    assert (store.ttl_s, store.abandoned_s) == (60, 3600)
