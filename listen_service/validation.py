"""What a client may send to ``POST /api/v1/listen``, checked before anything is queued.

``parse_request`` turns the JSON body into a payload for ``workers.pipeline.Request``
or raises an ``ApiError`` naming the problem; a body sending ``html`` or ``url``
instead of ``text`` gets its text from the page (``pages``); ``site`` finds the site posting
from its key. ``openapi`` publishes the same limits (``MAX_LENGTHS``,
``FORBIDDEN_PATTERN``), so the schema and these checks cannot drift apart.

The audio's artist tag: with site keys configured it is always the key's
site, and a ``site`` field naming another one is refused (422) rather than
silently replaced, so a client learns its tag is not what it asked for.
Without keys the server cannot tell who is posting, so ``site`` is taken as
sent, like ``title``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, request

from listen_service import pages
from listen_service.body import json_body
from listen_service.errors import ApiError
from listen_service.lanes import DEFAULT_PRIORITY, PRIORITIES

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
    # Not part of the audio: the job's lane (``lanes``), kept in the stored payload.
    "priority": ((str,), "priority"),
}
TITLE_MAX = 300
# Short fields end up in ffmpeg's command line and the audio's tags.
MAX_LENGTHS = {
    "title": TITLE_MAX,
    "site": 200,
    "voice": 200,
    "lang": 50,
    "format": 10,
    "url": 2000,
}
# Instead of ``text``: a page whose article is extracted (``pages``). ``html``
# is bounded by the request body's cap, like ``text``; the text extracted
# from either, by LISTEN_MAX_CHARS.
PAGE_SOURCES = ("html", "url")

# C0 and C1 control characters (Unicode category Cc). Articles keep their
# tab, line feed and carriage return; no other field may hold any control:
# a NUL cannot even pass through ffmpeg's command line into the tags.
FORBIDDEN_PATTERN = {
    "text": "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]",
    "other": "[\\x00-\\x1f\\x7f-\\x9f]",
}
_FORBIDDEN = {kind: re.compile(pattern) for kind, pattern in FORBIDDEN_PATTERN.items()}


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


def parse_request(poster: str | None = None) -> dict[str, Any]:
    """The body as a payload for ``Request``, or an ``ApiError`` naming the problem.

    ``poster`` is the site of the key the request came with (see ``site``):
    it becomes the artist tag, and a ``site`` field must then be left out or
    equal to it.
    """
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the article as application/json")
    return payload_of(json_body(), poster)


def payload_of(body: Any, poster: str | None = None) -> dict[str, Any]:
    """One article's fields (a request body, or an item of a publisher's batch) as a
    payload; ``ApiError`` 422 naming the problem."""
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_field", "the JSON body must be an object")
    unknown = sorted(set(body) - set(FIELDS) - set(PAGE_SOURCES))
    if unknown:
        raise ApiError(422, "invalid_field", f"unknown field(s): {', '.join(unknown)}")
    sources = [name for name in ("text", *PAGE_SOURCES) if name in body]
    if not sources:
        raise ApiError(422, "invalid_field", "text is required (or html, or url)")
    if len(sources) > 1:
        raise ApiError(
            422,
            "invalid_field",
            f"send exactly one of text, html and url, not {' and '.join(sources)}",
        )
    page = _page_source(body)
    payload: dict[str, Any] = {}
    for name, value in body.items():
        if name in PAGE_SOURCES:
            continue
        types, attribute = FIELDS[name]
        if value is None and name != "text":
            continue
        if types == (int,) and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema counts 175.0 as an integer, so do we
        if isinstance(value, bool) or not isinstance(value, types):
            kind = " or ".join(t.__name__ for t in types)
            raise ApiError(422, "invalid_field", f"{name} must be of type {kind}")
        if isinstance(value, str):
            _check_string(name, value)
        payload[attribute] = value
    if page is not None:
        pages.fill_payload(payload, pages.article(*page), TITLE_MAX)
    priority = payload.setdefault("priority", DEFAULT_PRIORITY)
    if priority not in PRIORITIES:
        choices = " or ".join(repr(p) for p in PRIORITIES)
        raise ApiError(422, "invalid_field", f"priority must be {choices}")
    if poster is not None:
        if payload.get("artist", poster) != poster:
            raise ApiError(
                422,
                "invalid_field",
                f"site must be left out or be {poster!r}, the site of your key",
            )
        payload["artist"] = poster
    return payload


def _page_source(body: dict[str, Any]) -> tuple[str, str] | None:
    """``(source, value)`` for a request sending ``html`` or ``url``, checked; else None."""
    for name in PAGE_SOURCES:
        if name in body:
            value = body[name]
            if not isinstance(value, str):
                raise ApiError(422, "invalid_field", f"{name} must be of type str")
            if name == "url":
                _check_string(name, value)
            elif not _encodable(value):
                raise ApiError(
                    422, "invalid_field", "html holds invalid Unicode (an unpaired surrogate)"
                )
            return name, value
    return None


def _check_string(name: str, value: str) -> None:
    limit = MAX_LENGTHS.get(name)
    if limit is not None and len(value) > limit:
        raise ApiError(422, "invalid_field", f"{name} must be at most {limit} characters")
    control = _FORBIDDEN["text" if name == "text" else "other"].search(value)
    if control is not None:
        raise ApiError(
            422,
            "invalid_field",
            f"{name} holds a control character (U+{ord(control.group()):04X}) at position "
            f"{control.start()}",
        )
    if not _encodable(value):
        raise ApiError(
            422, "invalid_field", f"{name} holds invalid Unicode (an unpaired surrogate)"
        )


def _encodable(text: str) -> bool:
    # JSON may carry "\\ud83d" alone; no engine or encoder can take it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
