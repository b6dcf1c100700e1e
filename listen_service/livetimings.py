"""The sentence timings of a job in progress, for its status body and its event stream.

While a job is made, its worker appends one JSON line per sentence to
``<key>.live.timings.jsonl`` beside the live audio (``workers.live``), on a
directory this process shares with it. A ``Follower`` reads that file from
where it stopped last time: only the bytes appended since, parsed line by
complete line, a partial last line kept for the next look. A file with
another inode is a new attempt's, read again from its start; a file gone
means the attempt ended, and what was read stays the answer until the job's
entry (which holds every timing) takes over.

Followers are shared by every request of this process, one per job, the
least recently used dropped past ``FOLLOWERS``: the polls and event streams
of one job, every 50 ms each, read each byte once between them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flask import current_app

from audio_cache import AudioCache
from workers.jobs import Job

log = logging.getLogger(__name__)

FOLLOWERS = 32


class Follower:
    """The timings appended so far to one live timings file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: tuple[int, int] | None = None  # (st_dev, st_ino) of the file being read
        self._offset = 0
        self._partial = b""
        self._timings: list[dict[str, Any]] = []

    def timings(self) -> list[dict[str, Any]]:
        """Every timing of the current attempt read so far, after reading what was appended."""
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return list(self._timings)
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != self._file:
                    self._file = (st.st_dev, st.st_ino)
                    self._offset, self._partial, self._timings = 0, b"", []
                if st.st_size > self._offset:
                    data = os.pread(fd, st.st_size - self._offset, self._offset)
                    self._offset += len(data)
                    self._feed(data)
            finally:
                os.close(fd)
            return list(self._timings)

    def _feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            try:
                timing = json.loads(line)
            except ValueError:  # never written by a worker: skipped, not fatal to the reader
                log.warning("skipping a line of %s that is not JSON: %.80r", self.path, line)
                continue
            if isinstance(timing, dict):
                self._timings.append(timing)


_followers: OrderedDict[Path, Follower] = OrderedDict()
_followers_lock = threading.Lock()


def follower(path: Path) -> Follower:
    """This process's follower of ``path``."""
    with _followers_lock:
        found = _followers.get(path)
        if found is None:
            found = _followers[path] = Follower(path)
            if len(_followers) > FOLLOWERS:
                _followers.popitem(last=False)
        _followers.move_to_end(path)
        return found


def _drop(path: Path) -> None:
    with _followers_lock:
        _followers.pop(path, None)


def live_fields(job_id: str, job: Job) -> dict[str, Any]:
    """What an unfinished job's body adds: ``first_audio_s``; while working, also the
    ``timings`` made so far and ``made_ms``, the end of the last (0 before the first)."""
    if job.status not in ("queued", "working"):
        return {}
    fields: dict[str, Any] = {"first_audio_s": job.first_audio_s}
    cache: AudioCache = current_app.extensions["listen_cache"]
    path = cache.live_timings_path(job_id)
    if job.status != "working":
        _drop(path)  # a retry starts from its first sentence
        return fields
    timings = follower(path).timings()
    fields["timings"] = timings
    fields["made_ms"] = timings[-1]["end_ms"] if timings else 0
    return fields
