"""Celery tasks: thin wrappers that hand arguments to ``workers.runner``.

Like a view, the task deals with the transport's concerns — retries with
backoff, time limits, acknowledgement — and leaves the work to a plain
function. Registered by name (``listen.synthesize``) so the web side never
imports this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from functools import partial
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from listen_service.webhooks.events import announce
from workers.errors import (
    EngineTimeout,
    InputError,
    OutOfSpace,
    SynthesisError,
    VoiceUnusable,
    disk_full,
)
from workers.jobs import JobStore
from workers.logs import job_context
from workers.runner import Outcome, run_job
from workers.speakers import get_speaker

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX = 60
# Past a lease's expiry, so that the look after it finds it lapsed.
BUSY_MARGIN_S = 0.25


# max_retries=None: the task counts its failures itself (see below). Celery reads
# a retry(max_retries=None) as "the task's default", which would otherwise be 3
# and end a job after three waits behind another process's lease.
@shared_task(  # type: ignore[untyped-decorator]
    name="listen.synthesize",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def synthesize_article(
    self: Task, job_id: str, payload: dict[str, Any], busy_waits: int = 0
) -> Outcome:
    """Run the job; ``busy_waits`` counts the retries spent waiting behind another
    process's lease, which Celery counts in ``request.retries`` like failures."""
    with job_context(job_id):
        return _synthesize(self, job_id, payload, busy_waits)


def _synthesize(self: Task, job_id: str, payload: dict[str, Any], busy_waits: int) -> Outcome:
    app = current_app
    store = app.extensions["listen_jobs"]
    max_retries = app.config["LISTEN_TASK_MAX_RETRIES"]
    lease_ttl = app.config["LISTEN_LEASE_SECONDS"]
    try:
        outcome = run_job(
            job_id,
            payload,
            cache=app.extensions["listen_cache"],
            store=store,
            engine=lambda: get_speaker(app.config["LISTEN_VOICES_DIR"]),
            owner=f"{socket.gethostname()}:{os.getpid()}",
            max_chars=app.config["LISTEN_MAX_CHARS"],
            lease_ttl=lease_ttl,
            max_attempts=app.config["LISTEN_JOB_MAX_ATTEMPTS"],
            ended=partial(announce, app),
        )
    except (InputError, VoiceUnusable):
        return "failed"  # recorded by run_job; retrying cannot help
    except EngineTimeout as exc:
        # The engine is wedged and espeak-ng cannot be re-initialised in this
        # process: record the failure (so the redelivered message is dropped
        # rather than hanging the next process too) and leave; acks_late +
        # reject_on_worker_lost hand the message back and the pool replaces us.
        _fail(store, job_id, exc.code, f"the speech engine hung on this text: {exc}")
        announce(app, job_id)
        app.logger.error("speech engine hung on %s; replacing this worker process", job_id)
        os._exit(70)
    except (SynthesisError, SoftTimeLimitExceeded, OSError) as exc:
        failures = failures_so_far(self.request.retries, busy_waits)
        countdown = retry_countdown(failures, max_retries)
        attempts = _attempts(store, job_id, failures + 1)
        if countdown is None:
            code = getattr(exc, "code", "synthesis_failed")
            if disk_full(exc):
                code = OutOfSpace.code
            log.error("attempt %d failed (%s: %s); giving up", attempts, code, exc)
            _fail(store, job_id, code, f"gave up after {attempts} attempts: {exc}")
            announce(app, job_id)
            raise
        log.warning(
            "attempt %d failed (%s: %s); retry %d of %d in %d s",
            attempts,
            getattr(exc, "code", type(exc).__name__),
            exc,
            failures + 1,
            max_retries,
            countdown,
        )
        # Queued again, dated to when the retry runs: it waits in a worker's
        # memory (not in the queue) for up to RETRY_BACKOFF_MAX, which may be
        # longer than LISTEN_STALE_SECONDS, and must not look lost to a sweep
        # meanwhile. A record that cannot be written (the disk is full) keeps
        # its last state; the retry still goes ahead, and a sweep re-drives it
        # if lost.
        with contextlib.suppress(KeyError, OSError):
            store.requeue(job_id, wait=countdown)
        # max_retries=None: Celery's own check would count the busy waits too.
        raise self.retry(exc=exc, countdown=countdown, max_retries=None) from exc
    except Exception as exc:
        # Not a failure we know how to retry: report it rather than leave the
        # job "working" for ever, then let Celery log the traceback.
        _fail(store, job_id, "internal_error", f"synthesis failed: {type(exc).__name__}")
        announce(app, job_id)
        raise
    if outcome == "busy":
        # Another process holds the lease. If it died, the lease lapses at its
        # TTL (Redis), so look again just after that: the job is taken over
        # within one lease of the death, not after a fixed long wait.
        left = store.lease_left(job_id)
        countdown = lease_ttl if left is None else min(left, lease_ttl) + BUSY_MARGIN_S
        raise self.retry(
            kwargs={"busy_waits": busy_waits + 1}, countdown=countdown, max_retries=None
        )
    return outcome


def failures_so_far(retries: int, busy_waits: int) -> int:
    """Retries that followed a failure: Celery's count less the waits behind a lease."""
    return max(0, retries - busy_waits)


def retry_countdown(failures: int, max_retries: int) -> int | None:
    """Seconds before retrying after the ``failures + 1``-th failure; None to give up."""
    if failures >= max_retries:
        return None
    return min(int(2 ** (failures + 1)), RETRY_BACKOFF_MAX)


def _attempts(store: JobStore, job_id: str, tries: int) -> int:
    """The job's attempts as its record counts them (starts by a worker), so that the
    message and the record agree; ``tries`` (Celery's count) if the record cannot say."""
    try:
        job = store.get(job_id)
    except Exception:  # the store is what failed: the message still says something true
        return tries
    return job.attempts if job is not None and job.attempts else tries


def _fail(store: JobStore, job_id: str, code: str, message: str) -> None:
    with contextlib.suppress(KeyError):  # the job was forgotten meanwhile
        store.fail(job_id, code, message)
