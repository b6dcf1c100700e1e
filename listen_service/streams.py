"""Following a job over time: long polls (``?wait=``) and Server-Sent Events.

Both hold a web thread while they wait, so both are bounded in time
(``LISTEN_WAIT_MAX_SECONDS``, ``LISTEN_SSE_MAX_SECONDS``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, request

from listen_service.errors import ApiError
from listen_service.jobflow import TERMINAL, current_state, fmt_of, job_body

POLL_SECONDS = 0.05
SSE_KEEPALIVE_SECONDS = 15.0


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


def long_poll(job_id: str, wait: float) -> dict[str, Any]:
    """The job's body once its status differs from now, or after ``wait`` seconds."""
    fmt = fmt_of(job_id)
    entry, job = current_state(job_id)
    deadline = time.monotonic() + wait
    initial = job.status if job else None
    while (
        entry is None and job is not None and job.status == initial and time.monotonic() < deadline
    ):
        time.sleep(POLL_SECONDS)
        entry, job = current_state(job_id)
    return job_body(job_id, entry, job, fmt)


def event_stream(job_id: str) -> Response:
    """Server-Sent Events: one ``status`` event per change, until ready or failed."""
    fmt = fmt_of(job_id)
    first = job_body(job_id, *current_state(job_id), fmt)  # 404 before streaming starts
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    limit = app.config["LISTEN_SSE_MAX_SECONDS"]

    def stream() -> Iterator[str]:
        body, sent_at, started = first, time.monotonic(), time.monotonic()
        yield f"retry: 1000\nevent: status\ndata: {json.dumps(body)}\n\n"
        last = (body["status"], body["progress"])
        while body["status"] not in TERMINAL and time.monotonic() - started < limit:
            time.sleep(POLL_SECONDS)
            try:
                with app.app_context():
                    body = job_body(job_id, *current_state(job_id), fmt)
            except ApiError as exc:  # the job vanished or the queue went down
                error = {"error": {"code": exc.code, "message": exc.message}}
                yield f"event: error\ndata: {json.dumps(error)}\n\n"
                return
            if (body["status"], body["progress"]) != last:
                last = (body["status"], body["progress"])
                sent_at = time.monotonic()
                yield f"event: status\ndata: {json.dumps(body)}\n\n"
            elif time.monotonic() - sent_at > SSE_KEEPALIVE_SECONDS:
                sent_at = time.monotonic()
                yield ": keep-alive\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream(), mimetype="text/event-stream", headers=headers)
