"""What a client may send to ``POST /api/v1/listen``, checked before anything is queued.

``parse_request`` turns the JSON body into a payload for ``workers.pipeline.Request``
or raises an ``ApiError`` naming the problem; ``site`` finds the site posting
from its key.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from listen_service.errors import ApiError

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


def site() -> str | None:
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
