"""The job runner behind the Celery task, called directly (as a task is, minus Celery)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_cache import AudioCache
from workers.engine import get_engine
from workers.errors import UnknownVoice
from workers.jobs import FileJobStore
from workers.pipeline import Request, plan
from workers.runner import run_job


def setup(tmp_path: Path, payload: dict[str, object]):  # type: ignore[no-untyped-def]
    cache, store = AudioCache(tmp_path), FileJobStore(tmp_path)
    job_id = plan(Request(**payload), get_engine().voices()).key  # type: ignore[arg-type]
    assert store.accept(job_id, payload)
    return cache, store, job_id


def run(cache, store, job_id, payload, owner="w1", max_attempts=0):  # type: ignore[no-untyped-def]
    return run_job(
        job_id,
        payload,
        cache=cache,
        store=store,
        engine=get_engine,
        owner=owner,
        max_chars=100_000,
        lease_ttl=30,
        max_attempts=max_attempts,
    )


def test_runs_once_then_is_idempotent(tmp_path: Path, article: str) -> None:
    payload = {"text": article[:1500], "title": "Run me"}
    cache, store, job_id = setup(tmp_path, payload)
    assert run(cache, store, job_id, payload) == "synthesised"
    job = store.get(job_id)
    assert job is not None and job.status == "ready" and job.progress == 1.0
    assert job.duration_s == cache.get(job_id).duration_s  # type: ignore[union-attr]
    assert run(cache, store, job_id, payload) == "cached"


def test_a_held_lease_means_someone_else_is_on_it(tmp_path: Path) -> None:
    payload = {"text": "Two workers, one job."}
    cache, store, job_id = setup(tmp_path, payload)
    lease = store.lease(job_id, "other-worker", 30)
    assert lease is not None
    with lease:
        assert run(cache, store, job_id, payload) == "busy"
    assert cache.get(job_id) is None
    assert run(cache, store, job_id, payload) == "synthesised"


def test_input_errors_fail_the_job_for_good(tmp_path: Path) -> None:
    payload = {"text": "Fine.", "voice": "gmw/en"}
    cache, store, job_id = setup(tmp_path, payload)
    with pytest.raises(UnknownVoice):
        run(cache, store, job_id, {**payload, "voice": "no-such-voice"})
    job = store.get(job_id)
    assert job is not None and job.status == "failed"
    assert job.error == {"code": "unknown_voice", "message": job.error["message"]}  # type: ignore[index]


def test_forgotten_or_failed_jobs_are_not_run(tmp_path: Path) -> None:
    payload = {"text": "Gone before it ran."}
    cache, store, job_id = setup(tmp_path, payload)
    store.fail(job_id, "engine_timeout", "hung")
    assert run(cache, store, job_id, payload) == "failed"
    store.forget(job_id)
    assert run(cache, store, job_id, payload) == "gone"
    assert cache.get(job_id) is None


def test_a_message_for_a_job_left_working_by_a_dead_worker_is_executed(tmp_path: Path) -> None:
    payload = {"text": "The first worker died here."}
    cache, store, job_id = setup(tmp_path, payload)
    assert store.start(job_id, "dead-worker") == 1  # a worker started it, then died
    assert run(cache, store, job_id, payload, max_attempts=3) == "synthesised"
    job = store.get(job_id)
    assert job is not None and (job.status, job.attempts) == ("ready", 2)


def test_a_job_whose_workers_keep_dying_is_failed_by_its_own_attempts(tmp_path: Path) -> None:
    payload = {"text": "This one kills workers."}
    cache, store, job_id = setup(tmp_path, payload)
    for n in range(3):
        assert store.start(job_id, f"crashed-{n}") == n + 1
    assert run(cache, store, job_id, payload, max_attempts=3) == "failed"
    job = store.get(job_id)
    assert job is not None and job.status == "failed" and job.error is not None
    assert job.error["code"] == "too_many_attempts"
    assert "started 3 times" in job.error["message"]
    assert cache.get(job_id) is None
