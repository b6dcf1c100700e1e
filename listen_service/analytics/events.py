"""One listening event from a player, checked, and what it adds to the counters.

A player sends ``{"key", "id", "type"[, "pct"]}`` (``navigator.sendBeacon``: a
``text/plain`` body, no cookies, no custom header, so the site's public key is in
the body). ``type`` is ``play``, ``progress`` (``pct`` 25, 50, 75 or 100: that
share of the audio was reached), ``speed`` (the reader changed the speed) or
``download``. Minutes listened are not the client's to say: each progress
milestone adds a quarter of the audio's length as the server knows it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from audio_cache import is_valid_key
from listen_service.body import json_body
from listen_service.errors import ApiError

MAX_EVENT_BYTES = 2048
"""An event is well under 200 bytes; anything past this is not a player's (413)."""
TYPES = ("play", "progress", "speed", "download")
MILESTONES = (25, 50, 75, 100)
FIELDS = frozenset({"key", "id", "type", "pct"})
MEDIA_TYPES = ("text/plain", "application/json")


def parse() -> tuple[str, str, str, int | None]:
    """``(site, article id, type, pct)`` of the request's event, or an ``ApiError``."""
    if request.mimetype not in MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the event as text/plain or JSON")
    body = json_body(MAX_EVENT_BYTES)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_field", "the JSON body must be an object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ApiError(422, "invalid_field", f"unknown field(s): {', '.join(unknown)}")
    site = _site(body.get("key"))
    job_id = body.get("id")
    if not isinstance(job_id, str) or not is_valid_key(job_id):
        raise ApiError(422, "invalid_field", "id must be the article's job id")
    kind = body.get("type")
    if kind not in TYPES:
        raise ApiError(422, "invalid_field", f"type must be one of {', '.join(TYPES)}")
    pct = body.get("pct")
    if kind == "progress":
        if isinstance(pct, bool) or pct not in MILESTONES:
            raise ApiError(422, "invalid_field", "pct must be 25, 50, 75 or 100")
    elif pct is not None:
        raise ApiError(422, "invalid_field", "pct is only for progress events")
    return site, job_id, str(kind), pct


def _site(key: Any) -> str:
    keys: dict[str, str] = current_app.config["LISTEN_SITE_KEYS"]
    if not key:
        raise ApiError(401, "missing_site_key", "send your site key in the event's key field")
    if not isinstance(key, str) or key not in keys:
        raise ApiError(403, "unknown_site_key", "this site key is not configured on the server")
    return keys[key]


def counts(kind: str, pct: int | None, duration_s: float) -> dict[str, int]:
    """What one event adds to its article's counters (``store.COUNTERS``)."""
    if kind == "play":
        return {"plays": 1}
    if kind == "speed":
        return {"speed_changes": 1}
    if kind == "download":
        return {"downloads": 1}
    return {f"p{pct}": 1, "listened_ms": round(duration_s * 1000 / len(MILESTONES))}
