"""One synthesis job, start to finish: the plain function behind the Celery task.

Idempotent by construction: the output is addressed by the job id (the cache
key), so a job whose audio exists is done before it starts, and a lease in
the job store lets exactly one process render a given id at a time — however
many duplicate messages (re-enqueued stale jobs, redeliveries) arrive. The
lease is kept alive by a heartbeat thread, not by progress, so a slow
sentence never loses it and a dead process loses it within one lease TTL.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from audio_cache import AudioCache
from workers.errors import InputError, VoiceUnusable
from workers.jobs import Job, JobStore, Lease
from workers.logs import job_context
from workers.pipeline import Request, plan, synthesize
from workers.speakers import SpeechEngine

log = logging.getLogger(__name__)

Outcome = Literal["cached", "busy", "synthesised", "failed", "gone", "cancelled"]


class Cancelled(Exception):
    """Raised from the progress callback when an operator cancelled the running job:
    it unwinds the pipeline, whose clean-up removes the temp and live files."""


# Progress and liveness are written at most this often (seconds).
HEARTBEAT_EVERY = 0.5
# How long the end of a job waits for its heartbeat thread to stop.
JOIN_TIMEOUT_S = 5.0


@contextlib.contextmanager
def kept_alive(lease: Lease, every: float) -> Iterator[None]:
    """Renew ``lease`` every ``every`` seconds from a thread of its own, for the ``with`` body."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                if not lease.renew():
                    log.warning(
                        "lost the lease on job %s; another process may take it", lease.job_id
                    )
                    return
            except Exception:  # a blip of the store must not end the heartbeat
                log.warning("could not renew the lease on job %s", lease.job_id, exc_info=True)

    # In a copy of this context, so that its log lines name the job too.
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(beat,), name=f"lease-{lease.job_id[:8]}", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # Bounded: a renewal stuck on a store that stopped answering must not
        # hold the finished job (and its worker) until the task's hard limit.
        # The daemon thread is left to its store timeout.
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():
            log.warning("the heartbeat of job %s is stuck; leaving it behind", lease.job_id)


def request_from_payload(payload: Mapping[str, Any]) -> Request:
    return Request(**{k: v for k, v in payload.items() if k in Request.__dataclass_fields__})


def run_job(
    job_id: str,
    payload: Mapping[str, Any],
    *,
    cache: AudioCache,
    store: JobStore,
    engine: Callable[[], SpeechEngine],
    owner: str,
    max_chars: int,
    lease_ttl: float,
    max_attempts: int = 0,
    ended: Callable[[str], object] = lambda job_id: None,
) -> Outcome:
    """Make the audio for ``job_id`` unless it exists or another process is on it.

    Any queued or working job is executed, however its message came (first
    delivery, redelivery, re-enqueue). ``InputError`` marks the job failed for
    good (retrying cannot help), as does ``VoiceUnusable`` (a voice model that
    cannot be loaded) and starting it more than ``max_attempts``
    times (0 = no cap: its workers keep dying on it); any other exception
    propagates for the caller to retry, with the job left working. A job an
    operator cancels stops at its next progress heartbeat (at most
    ``HEARTBEAT_EVERY`` plus one sentence later) and is failed with code
    ``cancelled``; nothing reaches the cache. ``ended(job_id)`` is called once
    this call has ended the job (ready or failed), after its record says so.
    """
    with job_context(job_id):
        record = store.get(job_id)
        with job_context(job_id, record.site if record else ""):
            return _run(
                job_id,
                payload,
                record,
                cache,
                store,
                engine,
                owner,
                max_chars,
                lease_ttl,
                max_attempts,
                ended,
            )


def _run(
    job_id: str,
    payload: Mapping[str, Any],
    record: Job | None,
    cache: AudioCache,
    store: JobStore,
    engine: Callable[[], SpeechEngine],
    owner: str,
    max_chars: int,
    lease_ttl: float,
    max_attempts: int,
    ended: Callable[[str], object],
) -> Outcome:
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
        if record.status != "ready":  # made by an attempt that died before saying so
            ended(job_id)
        return "cached"
    lease = store.lease(job_id, owner, lease_ttl)
    if lease is None:
        log.info("job %s is being synthesised elsewhere", job_id)
        return "busy"
    with lease, kept_alive(lease, lease_ttl / 4):
        attempts = store.start(job_id, owner)
        if max_attempts and attempts > max_attempts:
            store.fail(
                job_id,
                "too_many_attempts",
                f"started {attempts - 1} times without finishing (the worker kept dying); "
                "post it again",
            )
            ended(job_id)
            return "failed"
        log.info("attempt %d started by %s", attempts, owner)
        if store.heartbeat(job_id, 0.0):  # cancelled while its message was on its way
            return _cancelled(store, job_id, ended)
        last = time.monotonic()

        def progress(fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= HEARTBEAT_EVERY or fraction >= 1.0:
                last = now
                if store.heartbeat(job_id, min(fraction, 0.99)):
                    raise Cancelled(job_id)

        def first_audio() -> None:
            # Wall clock on both sides: the web process that accepted the job may
            # be on another machine (their clocks are assumed to agree, as leases do).
            store.first_audio(job_id, max(0.0, time.time() - record.accepted))

        began = time.monotonic()
        try:
            speaker = engine()
            job = plan(request_from_payload(payload), speaker.voices(), max_chars=max_chars)
            if job.key != job_id:
                raise InputError(
                    "this job's settings no longer give the same audio id (voices or pipeline "
                    "changed); post the article again"
                )
            entry, cached = synthesize(
                job,
                cache=cache,
                engine=speaker,
                progress=progress,
                live=True,
                first_audio=first_audio,
            )
        except Cancelled:
            return _cancelled(store, job_id, ended)
        except (InputError, VoiceUnusable) as exc:  # retrying cannot help either
            store.fail(job_id, exc.code, str(exc))
            ended(job_id)
            log.warning("failed for good (%s): %s", exc.code, exc)
            raise
        took = time.monotonic() - began
        store.finish(job_id, entry.duration_s, synthesis_s=None if cached else took)
        ended(job_id)
        if not cached:
            log.info("synthesised %s (%.1f s of audio in %.1f s)", job_id, entry.duration_s, took)
        return "cached" if cached else "synthesised"


def _cancelled(store: JobStore, job_id: str, ended: Callable[[str], object]) -> Outcome:
    # The literal, not CANCELLED: a test finds every recorded code in the source.
    store.fail(job_id, "cancelled", "cancelled by an operator while it was being synthesised")
    ended(job_id)
    log.warning("cancelled by an operator; stopped")
    return "cancelled"
