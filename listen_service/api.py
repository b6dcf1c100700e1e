"""The JSON API under ``/api/v1``: ask for audio, follow a job, list voices.

Routes only. ``POST /listen`` answers from the cache at once (200) or accepts
a job (202); ``GET /jobs/<id>`` reports on it, optionally waiting (long poll)
or streaming changes (Server-Sent Events). What a client may send lives in
``validation``, a job's life in ``jobflow``, following one over time in
``streams``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app

from audio_cache import is_valid_key
from listen_service import analytics, jobflow, streams, validation
from listen_service.errors import ApiError
from listen_service.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/listen")
def listen() -> Response:
    site = validation.site()
    status, body = jobflow.submit(validation.parse_request(site), site)
    analytics.advertise(body, site)
    response = Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/json")
    if status == 202:
        response.headers["Location"] = body["status_url"]
    return response


def _check_id(job_id: str) -> None:
    if not is_valid_key(job_id):
        raise ApiError(404, "not_found", "no job with this id")


@bp.get("/jobs/<job_id>")
def job_status(job_id: str) -> dict[str, Any]:
    """The job's state; with ``?wait=S``, first wait up to S s for it to change."""
    _check_id(job_id)
    return streams.long_poll(job_id, streams.wait_seconds())


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    """Server-Sent Events: one ``status`` event per change, until ready or failed."""
    _check_id(job_id)
    return streams.event_stream(job_id)


@bp.get("/voices")
def list_voices() -> dict[str, Any]:
    return {
        "voices": [v.as_dict() for v in jobflow.voices()],
        "engines": jobflow.speaker().engines(),
    }


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document(current_app.config)
