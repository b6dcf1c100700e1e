"""One synthesis job, start to finish: the plain function behind the Celery task.

Idempotent by construction: the output is addressed by the job id (the cache
key), so a job whose audio exists is done before it starts, and a lease in
the job store lets exactly one process render a given id at a time — however
many duplicate messages (re-enqueued stale jobs, redeliveries) arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from audio_cache import AudioCache
from workers.engine import Engine
from workers.errors import InputError
from workers.jobs import JobStore
from workers.pipeline import Request, plan, synthesize

log = logging.getLogger(__name__)

Outcome = Literal["cached", "busy", "synthesised", "failed", "gone"]

# Progress and liveness are written at most this often (seconds).
HEARTBEAT_EVERY = 0.5


def request_from_payload(payload: Mapping[str, Any]) -> Request:
    return Request(**{k: v for k, v in payload.items() if k in Request.__dataclass_fields__})


def run_job(
    job_id: str,
    payload: Mapping[str, Any],
    *,
    cache: AudioCache,
    store: JobStore,
    engine: Callable[[], Engine],
    owner: str,
    max_chars: int,
    lease_ttl: float,
) -> Outcome:
    """Make the audio for ``job_id`` unless it exists or another process is on it.

    ``InputError`` marks the job failed for good (retrying cannot help); any
    other exception propagates for the caller to retry, with the job record
    left as it was.
    """
    record = store.get(job_id)
    if record is None:
        # Forgotten since it was enqueued (e.g. its publish was reported failed).
        log.info("job %s no longer exists; nothing to do", job_id)
        return "gone"
    if record.status == "failed":
        # A redelivered message for a job already given up on (for example one
        # that hung the engine): a new POST starts it again, this does not.
        return "failed"
    entry = cache.get(job_id)
    if entry is not None:
        store.finish(job_id, entry.duration_s)
        return "cached"
    lease = store.lease(job_id, owner, lease_ttl)
    if lease is None:
        log.info("job %s is being synthesised elsewhere", job_id)
        return "busy"
    with lease:
        store.start(job_id, owner)
        last = 0.0

        def progress(fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= HEARTBEAT_EVERY or fraction >= 1.0:
                last = now
                store.heartbeat(job_id, min(fraction, 0.99))
                lease.renew()

        try:
            speaker = engine()
            job = plan(request_from_payload(payload), speaker.voices(), max_chars=max_chars)
            if job.key != job_id:
                raise InputError(
                    "this job's settings no longer give the same audio id (voices or pipeline "
                    "changed); post the article again"
                )
            entry, cached = synthesize(
                job, cache=cache, engine=speaker, progress=progress, live=True
            )
        except InputError as exc:
            store.fail(job_id, exc.code, str(exc))
            raise
        store.finish(job_id, entry.duration_s)
        if not cached:
            log.info("synthesised %s (%.1f s of audio)", job_id, entry.duration_s)
        return "cached" if cached else "synthesised"
