"""Cached audio over HTTP: ``/audio/<id>.<mp3|ogg|wav>`` and its metadata, ``/audio/<id>.json``.

An id is a cache key, so a URL names one immutable file: responses carry a
strong ``ETag`` (the content's SHA-256) and a year of ``immutable`` caching.
Before the file exists, while its job is being made, the same URL streams
the audio made so far (``progressive``), uncacheable.

Why not ``send_file``
---------------------
Werkzeug's ``make_conditional`` answers a malformed ``Range`` or a multi-range
request with ``416`` (RFC 9110 says ignore it and send ``200``), honours an
``If-Range`` date, and would not let the front server do ranges in the
hand-off mode. The rules are short, so they live here as two pure functions,
``precondition`` and ``byte_range``, tested directly. Choices within the RFC:

- Only one range is served; a request for several gets the whole file (``200``),
  which the RFC allows and which media players never need.
- ``If-Range`` is honoured only with our exact strong ``ETag``; a date or any
  other tag gets the whole file.
- ``Range`` is defined for ``GET`` only, so ``HEAD`` always describes the whole file.

``?download=1`` adds ``Content-Disposition: attachment`` with a name made of
the audio's title (``downloads``): the player's download button, on a site of
another origin, saves the file instead of leaving the article. Ranges,
validators and caching are the same as without it.

Bodies are streamed: the whole file (or a range to its end, the usual seek of
a player) through the server's ``wsgi.file_wrapper``, which gunicorn turns
into ``sendfile``; a range ending earlier through a bounded reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Final, cast

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import Headers
from werkzeug.http import http_date, parse_date, parse_etags
from werkzeug.wsgi import wrap_file

from audio_cache import AudioCache, Entry, is_valid_key
from listen_service import downloads, progressive
from listen_service.embeds import absolute
from listen_service.errors import ApiError
from listen_service.jobflow import store
from workers.audio import CONTENT_TYPES

bp = Blueprint("audio", __name__)

IMMUTABLE: Final = "public, max-age=31536000, immutable"
NOT_FOUND: Final = "no audio with this id; POST /api/v1/listen to create it"

# [0-9], not \d: \d also matches non-ASCII digits, which int() would accept.
_NAME = re.compile(r"([0-9a-f]{64})\.(mp3|ogg|wav|json)")
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_MAX_DIGITS = 30  # beyond any file size, and far below int()'s 4300-digit limit
_CHUNK = 64 * 1024


def audio_url(entry_or_key: Entry | str, fmt: str | None = None) -> str:
    """The URL of an entry's audio: ``/audio/<id>.<fmt>``, absolute (``embeds.absolute``).

    ``fmt`` defaults to an entry's own format and is required with a bare key.
    Needs an app context. Raises ``ValueError`` for a bad key or format.
    """
    if isinstance(entry_or_key, Entry):
        key, fmt = entry_or_key.key, fmt or entry_or_key.fmt
    else:
        key = entry_or_key
    if not is_valid_key(key) or fmt not in CONTENT_TYPES:
        raise ValueError(f"no audio URL for key {key!r} and format {fmt!r}")
    return absolute(f"/audio/{key}.{fmt}")


# The `string` converter never matches "/", and the strict pattern is checked
# before the cache, so no request can name anything outside it.
@bp.route("/audio/<string:name>", methods=["GET", "HEAD"])
def audio(name: str) -> Response:
    match = _NAME.fullmatch(name)
    if match is None:
        raise ApiError(404, "not_found", NOT_FOUND)
    key, ext = match.groups()
    download = _download_asked()
    cache = cast(AudioCache, current_app.extensions["listen_cache"])
    entry = cache.get(key)
    if entry is None:
        live = progressive.respond(key, ext)
        if live is not None:
            if download:
                payload = store().payload(key) or {}
                title = payload.get("title")
                live.headers["Content-Disposition"] = downloads.content_disposition(
                    title if isinstance(title, str) else None, key, ext
                )
            return live
        entry = cache.get(key)  # it may have been finished meanwhile
    if entry is None or ext not in ("json", entry.fmt):
        raise ApiError(404, "not_found", NOT_FOUND)
    if ext == "json":
        return _metadata(entry)
    response = _audio(entry, cache)
    if download:
        response.headers["Content-Disposition"] = downloads.content_disposition(
            entry.title, key, entry.fmt
        )
    return response


def _download_asked() -> bool:
    """Whether ``?download=`` asks for an attachment: ``1`` yes, ``0`` or absent no."""
    value = request.args.get("download")
    if value in (None, "0"):
        return False
    if value == "1":
        return True
    raise ApiError(422, "invalid_field", "download must be 1 (save the file) or 0")


def precondition(headers: Headers, opaque_tag: str, last_modified: int) -> int | None:
    """Steps 1-4 of RFC 9110 §13.2.2 for a GET or HEAD: ``412``, ``304`` or None to go on.

    ``opaque_tag`` is the ETag without quotes; ``last_modified`` is in whole
    seconds since the epoch, as ``Last-Modified`` says.
    """
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not parse_etags(if_match).contains(opaque_tag):  # strong comparison
            return 412
    else:
        since = parse_date(headers.get("If-Unmodified-Since"))
        if since is not None and last_modified > since.timestamp():
            return 412
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if parse_etags(if_none_match).contains_weak(opaque_tag):
            return 304
    else:
        since = parse_date(headers.get("If-Modified-Since"))
        if since is not None and last_modified <= since.timestamp():
            return 304
    return None


def byte_range(header: str | None, total: int) -> tuple[int, int] | None:
    """The one inclusive byte range a ``Range`` header asks of ``total`` bytes, or None for all.

    A missing, malformed or multi-range header is None: RFC 9110 lets a server
    ignore ``Range``. Raises a ``416`` ``ApiError`` when the range starts past
    the end.
    """
    if not header or total <= 0:
        return None
    unit, equals, spec_set = header.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes":
        return None
    # A list may hold empty elements ("0-99,"); they do not count.
    specs = [s for s in (part.strip(" \t") for part in spec_set.split(",")) if s]
    match = _RANGE_SPEC.fullmatch(specs[0]) if len(specs) == 1 else None
    if match is None or match.group(0) == "-":
        return None
    first, last = (_number(g) if g else None for g in match.groups())
    if first is None:  # "-n": the last n bytes
        if not last:
            raise _unsatisfiable(total)
        return max(total - last, 0), total - 1
    if last is not None and last < first:
        return None  # invalid, so ignored
    if first >= total:
        raise _unsatisfiable(total)
    return first, total - 1 if last is None else min(last, total - 1)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _unsatisfiable(total: int) -> ApiError:
    return ApiError(
        416,
        "range_not_satisfiable",
        f"the range starts past the end of the {total} bytes",
        {"Content-Range": f"bytes */{total}"},
    )


def _audio(entry: Entry, cache: AudioCache) -> Response:
    headers = _validators(entry.content_hash, entry.created)
    headers["Content-Type"] = CONTENT_TYPES[entry.fmt]
    headers["Accept-Ranges"] = "bytes"
    early = _conditional(entry.content_hash, entry.created, headers)
    if early is not None:
        return early
    handoff = current_app.config.get("LISTEN_SENDFILE_HEADER", "")
    if handoff == "X-Accel-Redirect":
        prefix = str(current_app.config.get("LISTEN_SENDFILE_PREFIX", "")).rstrip("/")
        relative = entry.audio_path.relative_to(cache.audio_root).as_posix()
        headers["X-Accel-Redirect"] = f"{prefix}/{relative}"
        return current_app.response_class(None, headers=headers)
    if handoff == "X-Sendfile":
        headers["X-Sendfile"] = os.path.abspath(entry.audio_path)
        return current_app.response_class(None, headers=headers)

    total = entry.bytes
    span = None
    if_range = request.headers.get("If-Range")
    if request.method == "GET" and (if_range is None or if_range.strip() == headers["ETag"]):
        span = byte_range(request.headers.get("Range"), total)
    start, end = span or (0, total - 1)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    if request.method == "HEAD":
        response = current_app.response_class(None, status, headers)
    else:
        response = current_app.response_class(
            _open_body(entry, start, end), status, headers, direct_passthrough=True
        )
    response.headers["Content-Length"] = str(end - start + 1)
    return response


def _open_body(entry: Entry, start: int, end: int) -> Iterable[bytes]:
    try:
        f = open(entry.audio_path, "rb")  # noqa: SIM115 - the response closes it
    except FileNotFoundError:  # evicted since cache.get verified it
        raise ApiError(404, "not_found", NOT_FOUND) from None
    # Checked on the open file, which a later replace or delete cannot change.
    if os.fstat(f.fileno()).st_size != entry.bytes:
        f.close()
        raise ApiError(404, "not_found", NOT_FOUND)
    f.seek(start)
    if end == entry.bytes - 1 and "wsgi.file_wrapper" in request.environ:
        # Returned as is: gunicorn only uses sendfile for its own wrapper type.
        return wrap_file(request.environ, f, _CHUNK)
    return _Slice(f, end - start + 1)


class _Slice:
    """``length`` bytes of an open file from where it stands; closing closes the file."""

    def __init__(self, file: IO[bytes], length: int) -> None:
        self._file = file
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        # Closed here as well as in close(): werkzeug's server skips close()
        # when draining a connection the client reset raises, and the file
        # would then stay open until the collector finds it.
        try:
            remaining = self._length
            while remaining > 0:
                chunk = self._file.read(min(_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk
        finally:
            self._file.close()

    def close(self) -> None:
        self._file.close()


def _metadata(entry: Entry) -> Response:
    opaque = f"{entry.content_hash}-json"
    headers = _validators(opaque, entry.created)
    early = _conditional(opaque, entry.created, headers)
    if early is not None:
        return early
    meta = entry.meta
    response = jsonify(
        {
            "id": entry.key,
            "title": entry.title,
            "duration_s": entry.duration_s,
            "format": entry.fmt,
            "bytes": entry.bytes,
            "audio_url": audio_url(entry),
            "created": datetime.fromtimestamp(entry.created, UTC).isoformat(timespec="seconds"),
            "voice": meta.get("voice"),
            "rate": meta.get("rate"),
            "sentences": meta.get("sentences"),
            "timings": meta.get("timings", []),
        }
    )
    response.headers.update(headers)
    return response


def _validators(opaque_tag: str, created: float) -> dict[str, str]:
    return {
        "ETag": f'"{opaque_tag}"',
        "Cache-Control": IMMUTABLE,
        "Last-Modified": http_date(int(created)),
    }


def _conditional(opaque_tag: str, created: float, headers: dict[str, str]) -> Response | None:
    status = precondition(request.headers, opaque_tag, int(created))
    if status == 412:
        raise ApiError(412, "precondition_failed", "the audio does not match If-Match")
    if status == 304:
        # Werkzeug drops the body and the content headers; ETag and Cache-Control stay.
        return current_app.response_class(None, 304, headers)
    return None
