"""The JSON API under ``/api/v1``: ask for audio, follow a job, list voices.

``POST /listen`` answers from the cache at once (200) or accepts a job
(202); ``GET /jobs/<id>`` reports on it, optionally waiting (long poll) or
streaming changes (Server-Sent Events). A job id is the audio's cache key,
so the same article with the same settings always gets the same id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from flask import Blueprint, Response, current_app, request
from kombu.exceptions import OperationalError

from audio_cache import AudioCache, Entry, is_valid_key
from listen_service.celery import SYNTHESIZE
from listen_service.errors import ApiError
from listen_service.openapi import openapi_document
from workers.jobs import Job, JobStore
from workers.pipeline import Request, plan
from workers.voices import Voice

bp = Blueprint("api", __name__, url_prefix="/api/v1")

TERMINAL = ("ready", "failed")
# A job whose message is lost this many times is failed instead of enqueued again.
MAX_ENQUEUES = 5
POLL_SECONDS = 0.05
SSE_KEEPALIVE_SECONDS = 15.0

# Request field → (accepted JSON types, ``Request`` attribute).
FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "text": ((str,), "text"),
    "title": ((str,), "title"),
    "site": ((str,), "artist"),
    "voice": ((str,), "voice"),
    "lang": ((str,), "lang"),
    "rate": ((int,), "rate"),
    "pitch": ((int,), "pitch"),
    "volume": ((int, float), "volume"),
    "format": ((str,), "fmt"),
    "bitrate": ((int,), "bitrate_kbps"),
}
TITLE_MAX = 300


@cache
def voices() -> list[Voice]:
    """This process's voice list (the engine is created on first use, after any fork)."""
    from workers.engine import get_engine

    return get_engine().voices()


def _store() -> JobStore:
    return current_app.extensions["listen_jobs"]  # type: ignore[no-any-return]


def _cache() -> AudioCache:
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


def _site() -> str | None:
    """The site posting, from its key; ``ApiError`` when keys are required and it has none."""
    keys: dict[str, str] = current_app.config["LISTEN_SITE_KEYS"]
    if not keys:
        return None
    key = request.headers.get("X-Listen-Key", "")
    if not key:
        raise ApiError(401, "missing_site_key", "send your site key in the X-Listen-Key header")
    if key not in keys:
        raise ApiError(403, "unknown_site_key", "this site key is not configured on the server")
    return keys[key]


def parse_request() -> dict[str, Any]:
    """The body as a payload for ``Request``, or an ``ApiError`` naming the problem."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the article as application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "malformed_json", "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_field", "the JSON body must be an object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(422, "invalid_field", f"unknown field(s): {', '.join(unknown)}")
    if "text" not in body:
        raise ApiError(422, "invalid_field", "text is required")
    payload: dict[str, Any] = {}
    for name, value in body.items():
        types, attribute = FIELDS[name]
        if value is None and name != "text":
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            kind = " or ".join(t.__name__ for t in types)
            raise ApiError(422, "invalid_field", f"{name} must be of type {kind}")
        if isinstance(value, str) and not _encodable(value):
            raise ApiError(
                422, "invalid_field", f"{name} holds invalid Unicode (an unpaired surrogate)"
            )
        payload[attribute] = value
    if len(payload.get("title") or "") > TITLE_MAX:
        raise ApiError(422, "invalid_field", f"title must be at most {TITLE_MAX} characters")
    return payload


def _encodable(text: str) -> bool:
    # JSON may carry "\\ud83d" alone; no engine or encoder can take it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def enqueue(job_id: str, payload: Mapping[str, Any]) -> None:
    try:
        current_app.extensions["celery"].send_task(SYNTHESIZE, args=[job_id, dict(payload)])
    except OperationalError as exc:
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
    entry = _cache().get(job_id)
    if entry is not None:
        return entry, None
    store = _store()
    job = store.get(job_id)
    if job is None:
        return None, None
    stale_before = time.time() - current_app.config["LISTEN_STALE_SECONDS"]
    lost = job.status == "ready" or (
        job.status in ("queued", "working") and job.updated < stale_before
    )
    # The payload (up to the whole article) is read only for a job that must be
    # enqueued again, not on each of the many polls of a healthy job.
    payload = store.payload(job_id) if lost else None
    if payload is None:
        return None, job
    if job.status == "ready":
        store.forget(job_id)
        if store.accept(job_id, payload):
            _enqueue_or_fail(job_id, payload)
        return None, store.get(job_id)
    if job.attempts >= MAX_ENQUEUES:
        store.fail(
            job_id,
            "job_lost",
            f"the job was lost {job.attempts} times (workers crashing?); post it again",
        )
    elif store.take_over_stale(job_id, stale_before):
        current_app.logger.warning("job %s was stale; enqueued again", job_id)
        enqueue(job_id, payload)
    return None, store.get(job_id)


def _enqueue_or_fail(job_id: str, payload: Mapping[str, Any]) -> None:
    try:
        enqueue(job_id, payload)
    except ApiError as exc:
        # Not accepted after all. Recorded as failed rather than forgotten:
        # another client may already be following this id, and a failed job
        # is started afresh by the next POST.
        _store().fail(job_id, exc.code, exc.message)
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
        body["error"] = job.error
    return body


def _fmt_of(job_id: str) -> str:
    payload = _store().payload(job_id) or {}
    return str(payload.get("fmt", "mp3"))


@bp.post("/listen")
def listen() -> tuple[Response, int] | Response:
    site = _site()
    payload = parse_request()
    if site is not None:
        payload.setdefault("artist", site)
    job = plan(Request(**payload), voices(), max_chars=current_app.config["LISTEN_MAX_CHARS"])
    job_id, fmt = job.key, job.encode.fmt
    entry, record = current_state(job_id)
    if entry is not None:
        return Response(json.dumps(job_body(job_id, entry, None)), 200, mimetype="application/json")
    store = _store()
    if record is None or record.status == "failed":
        if store.accept(job_id, payload):
            _enqueue_or_fail(job_id, payload)
        record = store.get(job_id)
    body = job_body(job_id, None, record, fmt)
    response = Response(json.dumps(body, ensure_ascii=False), 202, mimetype="application/json")
    response.headers["Location"] = body["status_url"]
    return response


def _wait_seconds() -> float:
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


def _check_id(job_id: str) -> None:
    if not is_valid_key(job_id):
        raise ApiError(404, "not_found", "no job with this id")


@bp.get("/jobs/<job_id>")
def job_status(job_id: str) -> dict[str, Any]:
    """The job's state; with ``?wait=S``, first wait up to S s for it to change."""
    _check_id(job_id)
    wait = _wait_seconds()
    fmt = _fmt_of(job_id)
    entry, job = current_state(job_id)
    deadline = time.monotonic() + wait
    initial = job.status if job else None
    while (
        entry is None and job is not None and job.status == initial and time.monotonic() < deadline
    ):
        time.sleep(POLL_SECONDS)
        entry, job = current_state(job_id)
    return job_body(job_id, entry, job, fmt)


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    """Server-Sent Events: one ``status`` event per change, until ready or failed."""
    _check_id(job_id)
    fmt = _fmt_of(job_id)
    first = job_body(job_id, *current_state(job_id), fmt)  # 404 before streaming starts
    app = current_app._get_current_object()  # type: ignore[attr-defined]
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


@bp.get("/voices")
def list_voices() -> dict[str, Any]:
    return {"voices": [v.as_dict() for v in voices()]}


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document()
