"""Following a job over time: long polls (``?wait=``) and Server-Sent Events.

Both hold a web thread while they wait, so both are bounded: in time
(``LISTEN_WAIT_MAX_SECONDS``, ``LISTEN_SSE_MAX_SECONDS``) and in number
(``LISTEN_STREAMS_PER_PROCESS`` in all, ``LISTEN_STREAMS_PER_CLIENT`` per
client address; see ``limits``). A wait over a bound is answered at once
with the job's current state: a long poll returns without waiting, an event
stream sends one ``status`` event with a longer ``retry:`` and closes.

An event stream sends a job's sentence timings once each: a ``timings``
event ``{"from": <index of its first>, "timings": [...]}`` carries those made
since the last one (the first, all made so far), just before the ``status``
event of the same look, and ``status`` events leave the list out. A status
event is due whenever ``made_ms`` (the end of the last timing) moves, too.
When the job turns ready, the last ``timings`` event carries the rest from
the finished entry, so the events' timings, joined, are the entry's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, current_app, request
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from audio_cache import Entry
from listen_service import limits
from listen_service.embeds import public_base
from listen_service.errors import ApiError
from listen_service.jobflow import TERMINAL, current_state, fmt_of, job_body
from workers.jobs import Job

POLL_SECONDS = 0.05
# A client that went away is noticed only when a write to it fails, and its
# hold on a stream slot lasts until then: write something every few seconds.
SSE_KEEPALIVE_SECONDS = 5.0
# EventSource reconnects after ``retry`` ms: soon while following a live
# stream, later when it was turned away for being over a bound.
SSE_RETRY_MS = 1000
SSE_BUSY_RETRY_MS = 5000


def wait_seconds() -> float:
    """The ``?wait=`` of this request, capped; 0 without one."""
    raw = request.args.get("wait")
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        raise ApiError(422, "invalid_field", "wait must be a number of seconds") from None
    if not wait >= 0:
        raise ApiError(422, "invalid_field", "wait must be a number of seconds")
    cap: float = current_app.config["LISTEN_WAIT_MAX_SECONDS"]
    return min(wait, cap)


def _waiting(entry: Entry | None, job: Job | None) -> bool:
    """True while there is something to wait for: a known job, not ready, not failed."""
    return entry is None and job is not None and job.status not in TERMINAL


def _body(job_id: str, entry: Entry | None, job: Job | None, fmt: str | None) -> dict[str, Any]:
    # The format is read from the job store only when the audio is not cached,
    # so a ready job is answered from the cache while the store is down.
    if entry is None and job is not None and fmt is None:
        fmt = fmt_of(job_id)
    return job_body(job_id, entry, job, fmt or "mp3")


def long_poll(job_id: str, wait: float) -> dict[str, Any]:
    """The job's body once its status differs from now, or after ``wait`` seconds.

    Returns at once for a job that is ready, failed or unknown, and for a
    client over its share of held waits.
    """
    entry, job = current_state(job_id)
    release = limits.try_hold() if wait > 0 and _waiting(entry, job) else None
    if release is None:
        return _body(job_id, entry, job, None)
    try:
        fmt = fmt_of(job_id)
        deadline = time.monotonic() + wait
        initial = job.status if job else None
        while (
            _waiting(entry, job)
            and job is not None
            and job.status == initial
            and time.monotonic() < deadline
        ):
            time.sleep(POLL_SECONDS)
            entry, job = current_state(job_id)
        return _body(job_id, entry, job, fmt)
    finally:
        release()


def _event(body: dict[str, Any], retry_ms: int | None = None) -> str:
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"{retry}event: status\ndata: {json.dumps(body)}\n\n"


def _new_timings(body: dict[str, Any], sent: int) -> tuple[str, int]:
    """Take the timings out of ``body``: the event for those after the first ``sent``
    ("" if none), and how many are sent then."""
    timings: list[dict[str, Any]] = body.pop("timings", None) or []
    if len(timings) <= sent:
        return "", sent
    data = json.dumps({"from": sent, "timings": timings[sent:]})
    return f"event: timings\ndata: {data}\n\n", len(timings)


def _error(code: str, message: str) -> str:
    return f"event: error\ndata: {json.dumps({'error': {'code': code, 'message': message}})}\n\n"


def event_stream(job_id: str) -> Response:
    """Server-Sent Events: one ``status`` event per change, until ready or failed."""
    entry, job = current_state(job_id)
    fmt = fmt_of(job_id) if _waiting(entry, job) else None
    first = _body(job_id, entry, job, fmt)  # 404 before streaming starts
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    release = limits.try_hold() if _waiting(entry, job) else None
    if release is None:
        # Done already, or over a bound: the state now, and when to ask again.
        retry = SSE_RETRY_MS if not _waiting(entry, job) else SSE_BUSY_RETRY_MS
        timings, _ = _new_timings(first, 0)
        return Response(
            timings + _event(first, retry), mimetype="text/event-stream", headers=headers
        )
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    # The events are made outside the request: its embed base is taken now.
    base = public_base()
    response = Response(
        _follow(app, job_id, first, fmt or "mp3", base, release),
        mimetype="text/event-stream",
        headers=headers,
    )
    # Called by the WSGI server when the response ends for any reason,
    # including a client that went away before the first event.
    response.call_on_close(release)
    return response


def _follow(
    app: Flask,
    job_id: str,
    first: dict[str, Any],
    fmt: str,
    base: str,
    release: Callable[[], None],
) -> Iterator[str]:
    # The hold is given back when the stream ends, however it ends (werkzeug's
    # server may skip close() on a client that reset its connection).
    try:
        yield from _events(app, job_id, first, fmt, base)
    finally:
        release()


def _state(body: dict[str, Any]) -> tuple[Any, ...]:
    """What a new ``status`` event is sent for: any change a reader would see."""
    queue = body.get("queue") or {}
    return (body["status"], body["progress"], body.get("made_ms"), queue.get("position"))


def _events(app: Flask, job_id: str, first: dict[str, Any], fmt: str, base: str) -> Iterator[str]:
    limit = app.config["LISTEN_SSE_MAX_SECONDS"]
    body, sent_at, started = first, time.monotonic(), time.monotonic()
    timings, sent = _new_timings(body, 0)
    yield timings + _event(body, SSE_RETRY_MS)
    last = _state(body)
    while body["status"] not in TERMINAL and time.monotonic() - started < limit:
        time.sleep(POLL_SECONDS)
        try:
            with app.app_context():
                entry, job = current_state(job_id)
                body = job_body(job_id, entry, job, fmt, base)
        except ApiError as exc:  # the job vanished or the queue went down
            yield _error(exc.code, exc.message)
            return
        except (RedisError, OperationalError):  # the job store went down mid-stream
            yield _error("service_unavailable", "the job store is unreachable; try again shortly")
            return
        if entry is not None:  # made while we looked away: the rest are in the entry
            body["timings"] = entry.meta.get("timings") or []
        timings, sent = _new_timings(body, sent)
        if timings or _state(body) != last:
            last = _state(body)
            sent_at = time.monotonic()
            yield timings + _event(body)
        elif time.monotonic() - sent_at > SSE_KEEPALIVE_SECONDS:
            sent_at = time.monotonic()
            yield ": keep-alive\n\n"
