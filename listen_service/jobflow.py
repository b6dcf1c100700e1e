"""A job's life seen from the web side: enqueue it, find its state, re-drive it if lost.

A job id is the audio's cache key, so "the job" and "the audio" are one thing:
``current_state`` answers with the cached audio when it exists, else with the
job record — after enqueueing the job again if its message was lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cache
from typing import Any

from flask import current_app
from kombu.exceptions import OperationalError

from audio_cache import AudioCache, Entry
from listen_service.celery import SYNTHESIZE
from listen_service.errors import ApiError, insufficient_storage, public_job_error
from workers.errors import disk_full
from workers.jobs import Job, JobStore
from workers.voices import Voice

TERMINAL = ("ready", "failed")
# A job whose message is lost this many times is failed instead of enqueued again.
MAX_ENQUEUES = 5


@cache
def voices() -> list[Voice]:
    """This process's voice list (the engine is created on first use, after any fork)."""
    from workers.engine import get_engine

    return get_engine().voices()


def store() -> JobStore:
    return current_app.extensions["listen_jobs"]  # type: ignore[no-any-return]


def audio_cache() -> AudioCache:
    return current_app.extensions["listen_cache"]  # type: ignore[no-any-return]


def _public(path: str) -> str:
    base: str = current_app.config["LISTEN_PUBLIC_URL"]
    return base.rstrip("/") + path


def _urls(job_id: str, fmt: str) -> dict[str, str]:
    embed_url = _public(f"/embed/{job_id}")
    return {
        "status_url": _public(f"/api/v1/jobs/{job_id}"),
        "audio_url": _public(f"/audio/{job_id}.{fmt}"),
        "timings_url": _public(f"/audio/{job_id}.json"),
        "embed_url": embed_url,
        "embed_html": (
            f'<iframe src="{embed_url}" title="Listen to this article" width="100%" '
            'height="120" style="border:0" loading="lazy" allow="autoplay"></iframe>'
        ),
    }


def enqueue(job_id: str, payload: Mapping[str, Any]) -> None:
    try:
        current_app.extensions["celery"].send_task(SYNTHESIZE, args=[job_id, dict(payload)])
    except Exception as exc:
        if disk_full(exc):  # the embedded broker's queue is on the data directory's disk
            raise insufficient_storage() from exc
        if not isinstance(exc, OperationalError):
            raise
        current_app.logger.error("cannot reach the broker: %s", exc)
        raise ApiError(
            503,
            "broker_unavailable",
            "the job queue is unreachable; try again shortly",
            {"Retry-After": "5"},
        ) from exc


def current_state(job_id: str) -> tuple[Entry | None, Job | None]:
    """The job's audio if ready, else its record — re-enqueued first if it was lost.

    A queued or working job with no sign of life for ``LISTEN_STALE_SECONDS``
    has lost its message (broker restarted, worker killed): the one request
    that wins ``take_over_stale`` enqueues it again. A job recorded ready
    whose audio has gone (evicted) is accepted anew.
    """
    entry = audio_cache().get(job_id)
    if entry is not None:
        return entry, None
    jobs = store()
    job = jobs.get(job_id)
    if job is None:
        return None, None
    stale_before = time.time() - current_app.config["LISTEN_STALE_SECONDS"]
    lost = job.status == "ready" or (
        job.status in ("queued", "working") and job.updated < stale_before
    )
    # The payload (up to the whole article) is read only for a job that must be
    # enqueued again, not on each of the many polls of a healthy job.
    payload = jobs.payload(job_id) if lost else None
    if payload is None:
        return None, job
    if job.status == "ready":
        jobs.forget(job_id)
        if jobs.accept(job_id, payload):
            enqueue_or_fail(job_id, payload)
        return None, jobs.get(job_id)
    if job.attempts >= MAX_ENQUEUES:
        jobs.fail(
            job_id,
            "job_lost",
            f"the job was lost {job.attempts} times (workers crashing?); post it again",
        )
    elif jobs.take_over_stale(job_id, stale_before):
        current_app.logger.warning("job %s was stale; enqueued again", job_id)
        enqueue(job_id, payload)
    return None, jobs.get(job_id)


def enqueue_or_fail(job_id: str, payload: Mapping[str, Any]) -> None:
    try:
        enqueue(job_id, payload)
    except ApiError as exc:
        # Not accepted after all. Recorded as failed rather than forgotten:
        # another client may already be following this id, and a failed job
        # is started afresh by the next POST.
        store().fail(job_id, exc.code, exc.message)
        raise


def job_body(job_id: str, entry: Entry | None, job: Job | None, fmt: str = "mp3") -> dict[str, Any]:
    if entry is not None:
        return {
            "id": job_id,
            "status": "ready",
            "progress": 1.0,
            "duration_s": entry.duration_s,
            **_urls(job_id, entry.fmt),
        }
    if job is None:
        raise ApiError(404, "not_found", "no job with this id; POST /api/v1/listen to create it")
    body: dict[str, Any] = {
        "id": job_id,
        "status": job.status,
        "progress": round(job.progress, 3),
        **_urls(job_id, fmt),
    }
    if job.error:
        # The record keeps the detail for operators; clients get the code.
        body["error"] = public_job_error(job.error)
    return body


def fmt_of(job_id: str) -> str:
    payload = store().payload(job_id) or {}
    return str(payload.get("fmt", "mp3"))
