"""Celery tasks: thin wrappers that hand arguments to ``workers.runner``.

Like a view, the task deals with the transport's concerns — retries with
backoff, time limits, acknowledgement — and leaves the work to a plain
function. Registered by name (``listen.synthesize``) so the web side never
imports this module.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from workers.engine import get_engine
from workers.errors import EngineTimeout, InputError, SynthesisError
from workers.runner import Outcome, run_job

RETRY_BACKOFF_MAX = 60


@shared_task(  # type: ignore[untyped-decorator]
    name="listen.synthesize", bind=True, acks_late=True, reject_on_worker_lost=True
)
def synthesize_article(self: Task, job_id: str, payload: dict[str, Any]) -> Outcome:
    app = current_app
    store = app.extensions["listen_jobs"]
    try:
        return run_job(
            job_id,
            payload,
            cache=app.extensions["listen_cache"],
            store=store,
            engine=get_engine,
            owner=f"{socket.gethostname()}:{os.getpid()}",
            max_chars=app.config["LISTEN_MAX_CHARS"],
            lease_ttl=app.config["LISTEN_STALE_SECONDS"],
        )
    except InputError:
        return "failed"  # recorded by run_job; retrying cannot help
    except EngineTimeout:
        # The engine is wedged and espeak-ng cannot be re-initialised in this
        # process: leave it. acks_late + reject_on_worker_lost put the message
        # back for a fresh pool process.
        app.logger.error("speech engine hung on %s; replacing this worker process", job_id)
        os._exit(70)
    except (SynthesisError, SoftTimeLimitExceeded, OSError) as exc:
        retries = self.request.retries
        if retries >= app.config["LISTEN_TASK_MAX_RETRIES"]:
            code = getattr(exc, "code", "synthesis_failed")
            store.fail(job_id, code, f"gave up after {retries + 1} attempts: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(2 ** (retries + 1), RETRY_BACKOFF_MAX)) from exc
