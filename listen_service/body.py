"""A request's JSON body, read within bounds and checked before it is parsed.

``json_body()`` promises that no body a client can send makes the server do
unbounded work or fail with a 500:

- A body larger than ``LISTEN_MAX_BODY_BYTES`` is ``413`` whether it declares a
  ``Content-Length`` or arrives chunked. Werkzeug checks the header, but for a
  chunked body it only stops reading at the limit, so a larger one was parsed
  cut short and answered as malformed JSON.
- JSON nested deeper than ``MAX_DEPTH`` is ``400 too_deeply_nested``, found by
  a linear scan of the text before ``json.loads`` (which recurses once per
  level and raised ``RecursionError``) ever sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from listen_service.errors import ApiError

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; a Listen request needs 1."""

_READ_CHUNK = 64 * 1024
# The only characters that change the nesting depth or whether we are in a string.
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def json_body(limit: int | None = None) -> Any:
    """The request's body parsed as JSON, or an ``ApiError`` (400, 413) saying why not;
    ``limit`` bytes at most (default ``LISTEN_MAX_BODY_BYTES``, which it cannot exceed)."""
    cap: int = current_app.config["LISTEN_MAX_BODY_BYTES"]
    data = _read(cap if limit is None else min(limit, cap))
    try:
        text = data.decode(json.detect_encoding(data))
    except (UnicodeDecodeError, LookupError):
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None
    if too_deep(text, MAX_DEPTH):
        raise ApiError(
            400,
            "too_deeply_nested",
            f"the JSON body nests arrays or objects more than {MAX_DEPTH} levels deep",
        )
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None


def raw_body() -> bytes:
    """The request's body as bytes, within ``LISTEN_MAX_BODY_BYTES`` (413 past it)."""
    return _read(current_app.config["LISTEN_MAX_BODY_BYTES"])


def too_deep(text: str, limit: int) -> bool:
    """True if ``text``, read as JSON, opens more than ``limit`` arrays/objects at once.

    Linear in the length of ``text`` and stops at the first level past the
    limit; brackets inside strings do not count. Malformed JSON gets an
    answer too (``json.loads`` then rejects it).
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual case, decided at C speed
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        at = match.start()
        if at == escaped_at:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _read(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        # Werkzeug answers 413 for a larger Content-Length, and without one
        # reads nothing from a server that does not end the input for it.
        return request.get_data(cache=True)
    # Chunked: read the server's terminated input ourselves, one byte past the
    # limit, so that "exactly the limit" and "more" can be told apart.
    stream = request.environ["wsgi.input"]
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - len(data)))
        if not chunk:
            return bytes(data)
        data += chunk
    raise RequestEntityTooLarge()
