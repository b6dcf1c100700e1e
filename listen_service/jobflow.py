"""A job's life seen from the web side: accept and enqueue it, find its state, re-drive it if lost.

A job id is the audio's cache key, so "the job" and "the audio" are one thing:
``current_state`` answers with the cached audio when it exists, else with the
job record — after enqueueing the job again if its message was lost
(``workers.redrive`` says what "lost" means; the workers' sweep does the same
without any client).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from audio_cache import AudioCache, Entry
from listen_service import embeds, instruments, lanes, lexicons, livetimings, publishers, storage
from listen_service.celery import send_synthesis
from listen_service.config import site_voices
from listen_service.errors import ApiError, insufficient_storage, public_job_error
from workers.errors import disk_full
from workers.jobs import Job, JobStore, QueueFull
from workers.pipeline import Plan, plan
from workers.redrive import redrive
from workers.runner import request_from_payload
from workers.voices import Voice

if TYPE_CHECKING:
    from workers.speakers import Speaker

TERMINAL = ("ready", "failed")
# Seconds a client told "queue_full" should wait: about the time a worker
# needs to finish a few articles.
QUEUE_FULL_RETRY_AFTER = 30


def voices() -> list[Voice]:
    """This process's voice list (the engines are created on first use, after any fork);
    outside an app, the voices of installed packages only."""
    return _voices(current_app.config["LISTEN_VOICES_DIR"] if has_app_context() else "")


@cache
def _voices(voices_dir: str) -> list[Voice]:
    from workers.speakers import get_speaker

    return get_speaker(voices_dir).voices()


def speaker() -> Speaker:
    """This process's engines, with the voices of ``LISTEN_VOICES_DIR``."""
    from workers.speakers import get_speaker

    return get_speaker(current_app.config["LISTEN_VOICES_DIR"])


def store() -> JobStore:
    return current_app.extensions["listen_jobs"]  # type: ignore[no-any-return]


def audio_cache() -> AudioCache:
    return current_app.extensions["listen_cache"]  # type: ignore[no-any-return]


def _urls(job_id: str, fmt: str, base: str | None) -> dict[str, str]:
    base = (embeds.public_base() if base is None else base).rstrip("/")
    return {**embeds.job_links(job_id, fmt, base), **embeds.embed_links(job_id, base)}


def plan_request(payload: Mapping[str, Any], site: str | None) -> tuple[Plan, dict[str, Any]]:
    """The job a validated request asks for, and the payload to store and enqueue for it.

    The payload gains what decides how the article is read besides the
    request: this service's date order and Traditional Chinese language, and
    the entries of the site's lexicon found in the text (a worker needs no
    lexicon store, and the key depends on exactly those entries).
    """
    config = current_app.config
    stored = {
        **payload,
        "date_order": config["LISTEN_DATE_ORDER"],
        **default_voice(
            payload, site_voices(config).get(site or "") or config["LISTEN_DEFAULT_VOICE"]
        ),
        "traditional_chinese": config["LISTEN_TRADITIONAL_CHINESE"],
    }
    job = plan(
        request_from_payload(stored),
        voices(),
        max_chars=config["LISTEN_MAX_CHARS"],
        lexicon=lexicons.lexicon_for(site),
    )
    if len(job.lexicon):
        stored["lexicon"] = job.lexicon.to_json()
    # The service's to say: a request naming a lane is refused (validation).
    stored.update(lanes.lane_of(job.voice.engine, config["LISTEN_NEURAL_LANE"]))
    return job, stored


def default_voice(payload: Mapping[str, Any], voice: str) -> dict[str, str]:
    """``{"voice": voice}`` (the site's, else ``LISTEN_DEFAULT_VOICE``) for a request
    that names no voice, else nothing."""
    asked = payload.get("voice")
    return {"voice": voice} if voice and not (isinstance(asked, str) and asked.strip()) else {}


def submit(
    request: Mapping[str, Any], site: str | None, *, via: str = "reader", link: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Ask for one article's audio: (200, its body) when it is made already, else
    (202, the job's body), accepting and enqueueing it or raising its priority.

    ``ApiError`` for what the request cannot have (invalid settings, queue caps,
    disk, broker). The site's article list (``publishers``) gets the article, as
    its publisher's (``via="publisher"``: its secret key) or a reader's.
    """
    job, payload = plan_request(request, site)
    job_id, fmt = job.key, job.encode.fmt
    entry, record = current_state(job_id, posting=True)
    if entry is None:
        if record is None or record.status == "failed":
            storage.require_free_space()
            if accept(job_id, payload, site, by_publisher=via == "publisher"):
                enqueue_or_fail(job_id, payload)
            record = store().get(job_id)
        else:
            promote(job_id, record, payload)
    if site:
        publishers.remember(site, job_id, job.encode.title, via, link)
    if entry is not None:
        return 200, job_body(job_id, entry, None)
    return 202, job_body(job_id, None, record, fmt)


def accept(
    job_id: str,
    payload: Mapping[str, Any],
    site: str | None,
    *,
    audio_gone: bool = False,
    by_publisher: bool = False,
) -> bool:
    """Record a new (or failed) job as queued; True if this request must enqueue it.

    With ``audio_gone``, a ready job (whose audio the caller found missing) is
    accepted anew as well. ``ApiError`` 429 ``queue_full`` when the site (or,
    for every job, the whole service) already has its cap of unfinished jobs.
    A site's publisher (``by_publisher``: its secret key) has a cap of its own,
    so a batch at publish time never leaves the site's readers refused.
    """
    config = current_app.config
    try:
        accepted = store().accept(
            job_id,
            payload,
            site=site or "",
            site_limit=config["LISTEN_SITE_MAX_QUEUED"] if site else 0,
            total_limit=config["LISTEN_MAX_QUEUED"],
            audio_gone=audio_gone,
            quota=f"{site}\x00publisher" if site and by_publisher else None,
        )
    except QueueFull as exc:
        whose = "this site has" if exc.scope == "site" else "the service has"
        raise ApiError(
            429,
            "queue_full",
            f"{whose} {exc.limit} articles waiting already; try again later",
            {"Retry-After": str(QUEUE_FULL_RETRY_AFTER)},
        ) from exc
    if accepted:
        instruments.job_accepted(lanes.LANE_NAMES[lanes.queue_of(payload)])
    return accepted


def enqueue(job_id: str, payload: Mapping[str, Any]) -> None:
    try:
        send_synthesis(current_app.extensions["celery"], job_id, payload)
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


def current_state(job_id: str, *, posting: bool = False) -> tuple[Entry | None, Job | None]:
    """The job's audio if ready, else its record — re-enqueued first if it was lost.

    A queued or working job that no worker holds, whose message is not in the
    broker and that showed no sign of life lately has lost its message (broker
    flushed, worker killed): the one request that wins ``take_over_stale``
    enqueues it again. A job recorded ready whose audio has gone (evicted) is
    accepted anew, under its site's caps.

    A status poll (``posting`` False) that cannot enqueue (broker unreachable,
    disk full) logs it and answers with the record: the workers' sweep re-drives
    the job later, and the client keeps following it. A POST raises the
    ``ApiError`` (503, 507), as it does for a new job. Either raises 429
    ``queue_full`` when an evicted job's site (or the service) is at its cap,
    and the job store's own errors (503).
    """
    entry = audio_cache().get(job_id)
    if entry is not None:
        return entry, None
    jobs = store()
    job = jobs.get(job_id)
    if job is None:
        return None, None
    config = current_app.config
    now = time.time()
    if job.status == "ready":
        # The payload (up to the whole article) is read only for a job that must
        # be enqueued again, not on each of the many polls of a healthy job.
        payload = jobs.payload(job_id)
        if payload is None:
            return None, job
        try:
            if accept(job_id, payload, _site_of(payload), audio_gone=True):
                if posting:
                    enqueue_or_fail(job_id, payload)
                else:
                    # Not enqueued, it stays queued without a message: the
                    # sweep finds it lost after stale_s and enqueues it then.
                    enqueue(job_id, payload)
        except Exception as exc:
            if posting or not _for_the_sweep(exc):
                raise
            current_app.logger.error(
                "could not enqueue evicted job %s again: %s", job_id, exc, extra={"job_id": job_id}
            )
        return None, jobs.get(job_id)
    quiet_s = min(config["LISTEN_STALE_SECONDS"], config["LISTEN_LEASE_SECONDS"])
    if job.status in TERMINAL or job.updated >= now - quiet_s:
        return None, job
    try:
        redriven = redrive(
            jobs,
            [job_id],
            now=now,
            stale_s=config["LISTEN_STALE_SECONDS"],
            lease_s=config["LISTEN_LEASE_SECONDS"],
            broker=current_app.extensions["listen_broker"],
            enqueue=enqueue,
        )
    except Exception as exc:
        if posting or not _for_the_sweep(exc):
            raise
        # The broker could not be asked, or the job was taken over but not
        # enqueued: it looks lost again after stale_s, and is re-driven then.
        current_app.logger.error(
            "could not re-drive lost job %s: %s", job_id, exc, extra={"job_id": job_id}
        )
        return None, jobs.get(job_id)
    return None, jobs.get(job_id) if redriven else job


def _for_the_sweep(exc: Exception) -> bool:
    """Whether a poll may leave this failure to enqueue to the workers' sweep:
    the broker unreachable or a full disk (not a full queue: that is the
    client's 429, nor a bug)."""
    if isinstance(exc, ApiError):
        return exc.status in (503, 507)
    return isinstance(exc, RedisError | OperationalError) or disk_full(exc)


def _site_of(payload: Mapping[str, Any]) -> str | None:
    """The site a stored job was posted by: with site keys, the key's site is its artist."""
    if not current_app.config["LISTEN_SITE_KEYS"]:
        return None
    artist = payload.get("artist")
    return artist if isinstance(artist, str) else None


def enqueue_or_fail(job_id: str, payload: Mapping[str, Any]) -> None:
    try:
        enqueue(job_id, payload)
    except ApiError as exc:
        # Not accepted after all. Recorded as failed rather than forgotten:
        # another client may already be following this id, and a failed job
        # is started afresh by the next POST.
        store().fail(job_id, exc.code, exc.message)
        raise


def promote(job_id: str, job: Job | None, payload: Mapping[str, Any]) -> None:
    """A reader's request (``payload``) for a job still waiting in the bulk lane moves
    it to the interactive lane. A broker that cannot do it now leaves it where it is."""
    if job is None or job.status != "queued" or lanes.queue_of(payload) != lanes.INTERACTIVE:
        return
    try:
        if lanes.promote(current_app.extensions["listen_broker"], job_id):
            # Stored too, so that a re-drive keeps it in the interactive lane.
            store().set_priority(job_id, "interactive")
            current_app.logger.info(
                "job %s moved to the interactive lane", job_id, extra={"job_id": job_id}
            )
    except (RedisError, OSError) as exc:
        current_app.logger.warning(
            "could not move job %s to the interactive lane: %s",
            job_id,
            exc,
            extra={"job_id": job_id},
        )


def _queue(job_id: str, job: Job) -> dict[str, Any]:
    """A queued job's lane and place in it (``lanes.queue_info``)."""
    if job.status != "queued":
        return {}
    broker = current_app.extensions["listen_broker"]
    return {"queue": lanes.queue_info(broker, job_id, lambda: store().payload(job_id))}


def job_body(
    job_id: str, entry: Entry | None, job: Job | None, fmt: str = "mp3", base: str | None = None
) -> dict[str, Any]:
    """What a client is told of a job: its audio when ready, else its record.

    ``base`` is the absolute base of its URLs (``embeds.public_base()`` of the
    request, which is the default; outside a request it must be given).
    """
    if entry is not None:
        return {
            "id": job_id,
            "status": "ready",
            "progress": 1.0,
            "duration_s": entry.duration_s,
            **_urls(job_id, entry.fmt, base),
        }
    if job is None:
        raise ApiError(404, "not_found", "no job with this id; POST /api/v1/listen to create it")
    urls = _urls(job_id, fmt, base)
    if job.status == "failed":
        # Nothing was made, so every link but the status's would be a 404;
        # posting the article again makes a new job with them.
        urls = {"status_url": urls["status_url"]}
    body: dict[str, Any] = {
        "id": job_id,
        "status": job.status,
        "progress": round(job.progress, 3),
        **urls,
        **livetimings.live_fields(job_id, job),
        **_queue(job_id, job),
    }
    if job.error:
        # The record keeps the detail for operators; clients get the code.
        body["error"] = public_job_error(job.error)
    return body


def fmt_of(job_id: str) -> str:
    payload = store().payload(job_id) or {}
    return str(payload.get("fmt", "mp3"))
