"""Audio of a job in progress over HTTP: ``GET``/``HEAD /audio/<id>.<mp3|ogg>`` while it is made.

While a job is ``working``, its worker's encoder grows a live file
(``workers.live``). The answer is ``200`` with what the file holds so far and
then the rest as it is written, in one chunked body: no ``Content-Length``, no
``ETag``, no ranges (a ``Range`` header is ignored), ``Cache-Control:
no-store``. Every reader gets the audio from its start, however late it joins.
Once the job is ready the same URL is the cached file again (``audio``).

When the body ends
------------------
- The attempt it follows ended (the live name is gone or names a newer
  attempt's file): the rest of the file is sent, then the body ends —
  complete when the job finished, cut short when it failed (a failed attempt's
  audio never becomes a cache entry).
- The file has not grown for ``LISTEN_LIVE_STALE_SECONDS``: its worker died.
- ``LISTEN_TASK_TIME_LIMIT`` has passed: no attempt runs longer.

A client that goes away is noticed at the next write, which comes with the
next sentence, and its thread is freed then.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from flask import Response, current_app, request

from listen_service.errors import ApiError
from listen_service.jobflow import audio_cache, current_state, fmt_of, store
from listen_service.limits import try_hold
from workers.audio import CONTENT_TYPES
from workers.live import STREAMABLE, playable_start

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# Waiting for the first bytes is short and decides how soon playback starts.
OPEN_POLL_SECONDS = 0.01
# A queued job is looked up in the job store this often while a GET waits for
# a worker to start it (a Redis read each time, for every waiting reader).
QUEUED_POLL_SECONDS = 0.025
_HEAD_BYTES = 64 * 1024  # holds ffmpeg's ID3 tag (titles are at most 300 characters) and Xing frame
_CHUNK = 64 * 1024


def respond(key: str, ext: str) -> Response | None:
    """The audio of job ``key`` as it is made, or None when there is no such job (or it is ready).

    A ``GET`` of a job still queued waits up to ``LISTEN_LIVE_STALE_SECONDS``
    for a worker to start it, so that a player can ask for the audio as soon as
    it has posted the article. Raises a ``404`` ``not_ready`` ``ApiError`` for a
    job that exists but has nothing to stream: failed, still queued after that
    wait (or asked with ``HEAD``), its timings (``.json``), or a format that is
    not streamed (WAV).
    """
    if "listen_jobs" not in current_app.extensions:
        return None  # an app that serves a cache alone has no jobs to follow
    entry, job = current_state(key)
    if entry is not None or job is None:
        return None
    fmt = fmt_of(key)
    if ext not in ("json", fmt):
        return None
    waits = job.status == "queued" and request.method == "GET"
    if ext == "json" or fmt not in STREAMABLE or not (job.status == "working" or waits):
        raise _not_ready(key, job.status)
    config = current_app.config
    stale: float = config["LISTEN_LIVE_STALE_SECONDS"]
    live = audio_cache().live_path(key, fmt)
    # A stream holds a web thread for as long as the job works: it counts
    # against the same bounds as event streams and long polls, so listeners
    # can never take the threads the rest of the API needs.
    release = try_hold() if request.method == "GET" else _no_hold
    if release is None:
        raise ApiError(
            503,
            "streams_busy",
            "too many streams are open on this server; try again in a moment",
            {"Retry-After": "2"},
        )
    try:
        status = _started(key, stale) if waits else job.status
        if status == "ready" and audio_cache().has(key):
            response = None  # made while we waited: the file is served as usual
        elif status != "working":
            raise _not_ready(key, status)
        else:
            response = _live_response(key, fmt, status, live, stale, release)
    except BaseException:
        release()
        raise
    if response is None:
        release()
    return response


def _started(key: str, wait: float) -> str:
    """The job's status once it is no longer queued, or "queued" after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        record = store().get(key)
        if record is None:
            return "ready" if audio_cache().has(key) else "failed"
        if record.status != "queued" or time.monotonic() >= deadline:
            return record.status
        time.sleep(QUEUED_POLL_SECONDS)


def _no_hold() -> None:
    """HEAD answers at once and holds nothing."""


def _live_response(
    key: str, fmt: str, status: str, live: Path, stale: float, release: Callable[[], None]
) -> Response | None:
    config = current_app.config

    def settled() -> bool:
        record = store().get(key)
        return record is None or record.status != "working"

    opened = _open_live(live, fmt, stale, settled)
    if opened is None:
        if audio_cache().has(key):
            return None  # it was finished while we waited: the file is served as usual
        raise _not_ready(key, status)
    fd, start = opened
    headers = {
        "Content-Type": CONTENT_TYPES[fmt],
        "Cache-Control": "no-store",
        "Accept-Ranges": "none",
        "X-Accel-Buffering": "no",  # nginx must pass each piece on, not buffer the body
    }
    if request.method == "HEAD":
        os.close(fd)
        # An empty body iterator, not None: that would say "Content-Length: 0".
        return current_app.response_class(iter(()), 200, headers, direct_passthrough=True)
    limit = config["LISTEN_TASK_TIME_LIMIT"]
    body = LiveBody(fd, start, live, stale=stale, limit=limit, on_close=release)
    return current_app.response_class(body, 200, headers, direct_passthrough=True)


def _not_ready(key: str, status: str) -> ApiError:
    if status == "failed":
        return ApiError(404, "not_ready", "the job failed; POST the article again")
    when = "is not being made yet" if status == "queued" else "is not ready yet"
    message = f"this audio {when}; follow /api/v1/jobs/{key}"
    return ApiError(404, "not_ready", message, {"Retry-After": "1"})


def _open_live(
    path: Path, fmt: str, wait: float, settled: Callable[[], bool]
) -> tuple[int, int] | None:
    """An open live file and where its playable part starts, waiting up to ``wait`` s for one.

    The worker marks a job working before it publishes the live name, and a
    name last touched longer ago than ``wait`` is a dead attempt's: both are
    waited out rather than followed. None after ``wait`` s, or as soon as
    ``settled()`` says the job is no longer working (it finished or failed
    just before this request found its name gone).
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        else:
            start = None
            if time.time() - os.fstat(fd).st_mtime < wait:
                try:
                    start = playable_start(os.pread(fd, _HEAD_BYTES, 0), fmt)
                except ValueError as exc:
                    current_app.logger.error("unreadable live audio %s: %s", path, exc)
            if start is not None:
                return fd, start
            os.close(fd)
        if time.monotonic() >= deadline or settled():
            return None
        time.sleep(OPEN_POLL_SECONDS)


class LiveBody:
    """The bytes of an open live file from ``start``, following it until its attempt ends.

    A WSGI body: iterate it once; ``close`` (which every WSGI server calls,
    also when the client went away) closes the file.
    """

    def __init__(
        self,
        fd: int,
        start: int,
        live: Path,
        *,
        stale: float,
        limit: float,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self._fd = fd
        self._on_close = on_close
        self._pos = start
        self._live = live
        self._inode = os.fstat(fd).st_ino
        self._stale = stale
        self._limit = limit
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._follow()
        except OSError as exc:
            # The file went bad under us (a network file system, a full
            # disk): end the body cleanly rather than cut it mid-chunk.
            log.error("live audio %s unreadable: %s", self._live, exc)
        finally:
            # Also here: werkzeug's server skips close() when draining a
            # connection the client reset raises, which would keep the file
            # open and the stream's hold taken.
            self.close()

    def _follow(self) -> Iterator[bytes]:
        now = time.monotonic()
        last_growth, ends = now, now + self._limit
        while not self.closed:
            data = os.pread(self._fd, _CHUNK, self._pos)
            if data:
                self._pos += len(data)
                last_growth = time.monotonic()
                yield data
                continue
            if not self._followed():
                # The attempt is over and its encoder gone: what is left in
                # the file is all there will ever be.
                yield from self._rest()
                return
            now = time.monotonic()
            if now - last_growth > self._stale or now > ends:
                return
            time.sleep(POLL_SECONDS)

    def _followed(self) -> bool:
        """True while the live name still names this reader's file."""
        try:
            return os.stat(self._live).st_ino == self._inode
        except FileNotFoundError:
            return False

    def _rest(self) -> Iterator[bytes]:
        while data := os.pread(self._fd, _CHUNK, self._pos):
            self._pos += len(data)
            yield data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)
            self._on_close()
