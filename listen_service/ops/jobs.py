"""The operator's jobs: list them, retry a failed one, cancel a queued or working one.

``GET /api/v1/ops/jobs?status=&site=&limit=``, ``POST /api/v1/ops/jobs/<id>/retry``
and ``POST /api/v1/ops/jobs/<id>/cancel``, all behind the operator token
(``ops.auth``). ``rows``, ``retry`` and ``cancel`` are plain functions of the
app context, so the CLI (``listen-service jobs``) and the console do the same.

Operators see the full error message (clients get only its code's public text).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import current_app, request

from audio_cache import is_valid_key
from listen_service import jobflow
from listen_service.errors import ApiError
from listen_service.ops import bp
from listen_service.ops.auth import operator_only
from listen_service.webhooks.events import announce
from workers.jobs import STATUSES, Job, JobStatus

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def row(job: Job, now: float) -> dict[str, Any]:
    """What an operator's list shows of a job: its record, and its age in seconds."""
    return {**job.as_dict(), "age_s": round(max(0.0, now - job.accepted), 3)}


def status_of(raw: str | None) -> JobStatus | None:
    """A status filter as sent ("" or None: any); ``ApiError`` 400 for an unknown one."""
    if not raw:
        return None
    chosen = next((s for s in STATUSES if s == raw), None)
    if chosen is None:
        raise ApiError(400, "invalid_status", f"status must be one of {', '.join(STATUSES)}")
    return chosen


def rows(status: str | None, site: str | None, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Jobs newest first; ``ApiError`` 400 for an unknown status or a limit out of range."""
    chosen = status_of(status)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "invalid_limit", f"limit must be within 1..{MAX_LIMIT}")
    now = time.time()
    return [row(j, now) for j in jobflow.store().list_jobs(chosen, site, limit)]


def _job(job_id: str) -> Job:
    job = jobflow.store().get(job_id) if is_valid_key(job_id) else None
    if job is None:
        raise ApiError(404, "not_found", "no job with this id")
    return job


def retry(job_id: str) -> Job:
    """Accept a failed job again from its stored request and enqueue it.

    ``ApiError``: 404 no such job; 409 ``not_failed`` (any other state) or
    ``payload_gone``; 429/503/507 as for a new job (queue caps, broker, disk).
    """
    job = _job(job_id)
    if job.status != "failed":
        raise ApiError(
            409, "not_failed", f"only a failed job can be retried; this one is {job.status}"
        )
    payload = jobflow.store().payload(job_id)
    if payload is None:
        raise ApiError(409, "payload_gone", "the request of this job is gone; post it again")
    if not jobflow.accept(job_id, payload, job.site or None):
        raise ApiError(409, "not_failed", "someone else retried or posted this job meanwhile")
    jobflow.enqueue_or_fail(job_id, payload)
    log.info(
        "retried by an operator after %s",
        (job.error or {}).get("code"),
        extra={"job_id": job_id, "site": job.site or None},
    )
    return _job(job_id)


def cancel(job_id: str) -> Job:
    """Cancel a queued job (failed at once, code ``cancelled``) or a working one (its
    worker stops at its next heartbeat); the job as it is now.

    A working job that no live worker holds is failed at once: nothing else would.
    ``ApiError`` 404 no such job, 409 ``not_cancellable`` for a ready or failed one.
    """
    store = jobflow.store()
    found = store.cancel(job_id) if is_valid_key(job_id) else None
    if found is None:
        raise ApiError(404, "not_found", "no job with this id")
    if found not in ("queued", "working"):
        raise ApiError(
            409,
            "not_cancellable",
            f"only a queued or working job can be cancelled; this one is {found}",
        )
    ended_here = found == "queued"
    if found == "working" and not store.lease_held(job_id):
        store.fail(job_id, "cancelled", "cancelled by an operator (no worker was running it)")
        ended_here = True
    if ended_here:  # else its worker ends it, and tells the webhooks
        announce(current_app._get_current_object(), job_id)  # type: ignore[attr-defined]
    log.info("cancelled by an operator (it was %s)", found, extra={"job_id": job_id})
    return _job(job_id)


@bp.get("/api/v1/ops/jobs")
@operator_only
def list_jobs() -> dict[str, Any]:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_limit", "limit must be a whole number") from None
    jobs = rows(request.args.get("status") or None, request.args.get("site"), limit)
    return {"jobs": jobs, "count": len(jobs)}


def answer(job: Job, *, retried: bool) -> tuple[dict[str, Any], int]:
    """The JSON answer to a retry or cancel: 202 for a retry (it is queued again) and
    while a worker is still to stop a cancelled job; 200 once a cancel is over."""
    return {"job": row(job, time.time())}, 202 if retried or job.status == "working" else 200


@bp.post("/api/v1/ops/jobs/<job_id>/retry")
@operator_only
def retry_job(job_id: str) -> tuple[dict[str, Any], int]:
    return answer(retry(job_id), retried=True)


@bp.post("/api/v1/ops/jobs/<job_id>/cancel")
@operator_only
def cancel_job(job_id: str) -> tuple[dict[str, Any], int]:
    return answer(cancel(job_id), retried=False)
