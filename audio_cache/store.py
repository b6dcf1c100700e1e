"""The audio store: content-addressed files with a JSON sidecar, written atomically.

Layout, under ``<root>/audio`` (``key = "abcd..."``, 64 hex characters)::

    audio/ab/cd/<key>.mp3         the audio (or .ogg / .wav)
    audio/ab/cd/<key>.json        the sidecar: key, fmt, bytes, content_hash, duration_s,
                                  title, created, plus the caller's meta (timings, voice...)
    audio/ab/cd/<key>.live.mp3    while a job is rendered: another name of its temp file,
                                  which readers follow as it grows (removed by evict()
                                  an hour after a crashed writer last touched it)
    audio/ab/cd/<key>.live.timings.jsonl
                                  while a job is rendered: its sentence timings so far,
                                  one JSON object a line (same life as the live audio)
    audio/ab/cd/.tmp-*            files being written (removed by evict() after an hour)
    audio/ab/cd/.lock             lock file for writers of this directory; never deleted

The sidecar's mtime is the entry's last access time (bumped by ``get``), so a
read never rewrites a file.

Why a reader never sees a half-written entry
---------------------------------------------
Every file is written to a ``.tmp-*`` name in its final directory, fsynced, and
``os.replace``d into place, so each path always holds a complete old file or a
complete new one. The sidecar is the commit marker: ``put`` installs the audio
first and the sidecar second, so a crash in between leaves audio without a
sidecar, which is a miss (and an orphan that ``evict`` removes later). A reader
also checks the audio's size and SHA-256 against the sidecar, so a truncated or
bit-rotted file is a miss, never served.

Why concurrent writers are safe
-------------------------------
Writers of one directory serialise the two renames of a ``put`` (and deletes)
under ``flock`` on ``.lock``; on Linux NFS ``flock`` maps to POSIX record
locks, so this holds across machines sharing the directory. Readers take no
lock on the fast path. A reader whose check fails may have raced a writer
between its two renames (possible only if two writers' bytes differ), so
before treating the entry as corrupt it takes the lock, re-reads, and removes
the files only if they are still inconsistent with no writer in flight. Last
writer wins, and the entry is valid after every ``put`` returns.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from audio_cache._fs import (
    LOCK_NAME,
    TMP_PREFIX,
    atomic_write_bytes,
    dir_lock,
    fsync_dir,
    make_temp,
    sha256_of,
    unlink_quiet,
)
from audio_cache.keys import is_valid_key, key_path_parts

log = logging.getLogger(__name__)

FORMATS = frozenset({"mp3", "ogg", "wav"})
STALE_AFTER_S = 3600.0
"""Age after which a ``.tmp-*`` file or audio without a sidecar is debris from a crash."""

_MEMO_MAX = 4096
_COMPUTED = ("key", "fmt", "bytes", "content_hash", "duration_s", "title", "created")


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored synthesis; ``meta`` is the whole sidecar."""

    key: str
    audio_path: Path
    fmt: str
    bytes: int
    content_hash: str
    duration_s: float
    title: str | None
    created: float
    last_access: float
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Size of the cache: ``bytes`` counts audio and sidecars of committed entries."""

    entries: int
    bytes: int
    max_bytes: int | None
    root: str


@dataclass(frozen=True, slots=True)
class _Slot:
    """What a stat-only scan knows about one committed key."""

    key: str
    directory: Path
    sidecar: os.stat_result
    size: int


class _Missing(Exception):
    """No sidecar: the entry was never committed."""


class _Corrupt(Exception):
    """A sidecar exists but the entry fails validation."""


def default_data_dir(env: Mapping[str, str]) -> Path:
    """The platform's per-user data directory for Listen (XDG on Linux)."""
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "listen"
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "listen"
    return home / ".local" / "share" / "listen"


class AudioCache:
    """A content-addressed store of synthesised audio; see the module docstring.

    ``on_evict``, if set, is called with the number of entries an eviction by
    size removed (never with 0), so a caller can count them without this
    package knowing how; an error it raises is logged and ignored.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        max_bytes: int | None = None,
        on_evict: Callable[[int], None] | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.on_evict = on_evict
        self.audio_root = self.root / "audio"
        self.audio_root.mkdir(parents=True, exist_ok=True)
        # Successful verifications, keyed by file identity, so a hot entry is
        # hashed once per process rather than on every read.
        self._verified: dict[tuple[str, int, int, int, int], str] = {}
        self._memo_lock = threading.Lock()

    def _dir(self, key: str) -> Path:
        first, second, _ = key_path_parts(key)  # raises ValueError on a bad key
        return self.audio_root / first / second

    # -- reading ---------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """Return the verified entry for ``key`` and mark it used, or None on a miss.

        A corrupt entry (bad sidecar, wrong size or hash) is removed and is a miss.
        """
        entry = self._lookup(key)
        if entry is None:
            return None
        try:
            # times=None needs only write permission, not ownership of the file.
            os.utime(entry.audio_path.with_suffix(".json"))
        except OSError:
            # Access time is LRU bookkeeping: a read-only mount or a racing
            # delete must not turn a verified hit into an error.
            return entry
        return dataclasses.replace(entry, last_access=time.time())

    def has(self, key: str) -> bool:
        """True if ``get`` would hit (removing a corrupt entry likewise); not an access."""
        return self._lookup(key) is not None

    def stored(self, key: str) -> bool:
        """Whether a committed entry is there (its sidecar), by one ``stat``: no read, no
        verification, no access. For long listings; ``has`` is the sure answer."""
        return (self._dir(key) / f"{key}.json").exists()

    def peek(self, key: str) -> Entry | None:
        """The entry ``get`` would return, without marking it used (a listing is no read)."""
        return self._lookup(key)

    def _lookup(self, key: str) -> Entry | None:
        directory = self._dir(key)
        try:
            return self._verified_entry(key, directory)
        except _Missing:
            return None
        except _Corrupt:
            pass
        # Slow path: with no writer in flight, either the entry is now
        # consistent (we raced a put) or it is really corrupt.
        with dir_lock(directory):
            try:
                return self._verified_entry(key, directory)
            except _Missing:
                return None
            except _Corrupt:
                self._remove_files(key, directory)
                return None

    def _verified_entry(self, key: str, directory: Path) -> Entry:
        entry = self._read_entry(key, directory)
        self._verify(entry)
        return entry

    def _read_entry(self, key: str, directory: Path) -> Entry:
        try:
            with open(directory / f"{key}.json", "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
        except FileNotFoundError:
            raise _Missing from None
        try:
            data = json.loads(raw)
        except ValueError:  # includes UnicodeDecodeError
            raise _Corrupt from None
        return _entry_from_sidecar(key, directory, data, st.st_mtime)

    def _verify(self, entry: Entry) -> None:
        path = entry.audio_path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise _Corrupt from None
        if st.st_size != entry.bytes:
            raise _Corrupt
        if self._verified.get(_identity(path, st)) == entry.content_hash:
            return
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                digest, size = sha256_of(f)
        except FileNotFoundError:
            raise _Corrupt from None
        if size != entry.bytes or digest != entry.content_hash:
            raise _Corrupt
        self._remember(path, st, digest)

    def _remember(self, path: Path, st: os.stat_result, digest: str) -> None:
        with self._memo_lock:
            if len(self._verified) >= _MEMO_MAX:
                del self._verified[next(iter(self._verified))]
            self._verified[_identity(path, st)] = digest

    def live_path(self, key: str, fmt: str) -> Path:
        """Where the audio of ``key`` being made is visible while it grows; never an entry.

        Only a name: the writer publishes it and readers follow it (see
        ``workers.live``); ``get`` never looks at it.
        """
        if fmt not in FORMATS:
            raise ValueError(f"unsupported audio format {fmt!r}; expected one of {sorted(FORMATS)}")
        return self._dir(key) / f"{key}.live.{fmt}"

    def live_timings_path(self, key: str) -> Path:
        """Where the sentence timings of ``key`` being made are appended, one JSON line each.

        Published and withdrawn with ``live_path`` (``workers.live``); pruned
        as crash debris like it. Only a name; never an entry.
        """
        return self._dir(key) / f"{key}.live.timings.jsonl"

    # -- writing ---------------------------------------------------------------

    def temp_path(self, key: str, suffix: str) -> Path:
        """Create and return a unique empty ``.tmp-*`` file in the key's directory.

        Stream the audio into it, then hand it to ``put``, which renames it into
        place without copying.
        """
        if os.sep in suffix or "/" in suffix or len(suffix) > 16:
            raise ValueError(f"invalid temp file suffix: {suffix!r}")
        directory = self._dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        return make_temp(directory, suffix)

    def put(
        self,
        key: str,
        source: Path,
        *,
        fmt: str,
        duration_s: float,
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Move the finished audio file ``source`` into the cache under ``key`` and commit it.

        ``source`` is consumed (renamed, or copied and removed if it is on another
        filesystem). ``meta`` must be JSON-serialisable; it cannot override the
        computed sidecar fields. If ``max_bytes`` is set, least recently used
        entries other than this one are then evicted.
        """
        directory = self._dir(key)
        if fmt not in FORMATS:
            raise ValueError(f"unsupported audio format {fmt!r}; expected one of {sorted(FORMATS)}")
        extra = {k: v for k, v in (meta or {}).items() if k not in _COMPUTED}
        # Fail on unserialisable meta before touching the source.
        json.dumps(extra, allow_nan=False)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = _adopt(Path(source), directory, fmt)
        try:
            with open(tmp, "rb") as f:
                content_hash, nbytes = sha256_of(f)
                os.fsync(f.fileno())
            sidecar: dict[str, Any] = {
                "key": key,
                "fmt": fmt,
                "bytes": nbytes,
                "content_hash": content_hash,
                "duration_s": float(duration_s),
                "title": title,
                "created": time.time(),
                **extra,
            }
            blob = json.dumps(sidecar, ensure_ascii=False, allow_nan=False).encode("utf-8")
            audio_path = directory / f"{key}.{fmt}"
            sidecar_path = directory / f"{key}.json"
            with dir_lock(directory):
                os.replace(tmp, audio_path)
                try:
                    for other in FORMATS - {fmt}:
                        unlink_quiet(directory / f"{key}.{other}")
                    atomic_write_bytes(sidecar_path, blob)
                    fsync_dir(directory)
                except BaseException:
                    # Audio with no sidecar is never served but holds its space
                    # for an hour (evict's debris rule); a full disk needs it now.
                    if not sidecar_path.exists():
                        unlink_quiet(audio_path)
                    raise
                audio_st = os.stat(audio_path)
                sidecar_st = os.stat(sidecar_path)
        except BaseException:
            unlink_quiet(tmp)
            raise
        self._remember(audio_path, audio_st, content_hash)
        entry = _entry_from_sidecar(key, directory, sidecar, sidecar_st.st_mtime)
        if self.max_bytes is not None:
            self._evict(self.max_bytes, keep=key)
        return entry

    def delete(self, key: str) -> bool:
        """Remove the entry for ``key``; True if there was anything to remove."""
        directory = self._dir(key)
        if not directory.is_dir():
            return False
        with dir_lock(directory):
            return self._remove_files(key, directory)

    def _remove_files(self, key: str, directory: Path) -> bool:
        # Sidecar first: it is the commit marker, so the entry vanishes atomically.
        removed = unlink_quiet(directory / f"{key}.json")
        for fmt in sorted(FORMATS):
            removed = unlink_quiet(directory / f"{key}.{fmt}") or removed
        return removed

    # -- listing and eviction --------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        """Yield committed entries from their sidecars, without verifying the audio."""
        for slot in self._scan(clean=False):
            try:
                yield self._read_entry(slot.key, slot.directory)
            except (_Missing, _Corrupt):
                continue

    def stats(self) -> CacheStats:
        """Count committed entries and their bytes on disk (audio plus sidecar)."""
        slots = list(self._scan(clean=False))
        return CacheStats(
            entries=len(slots),
            bytes=sum(s.size for s in slots),
            max_bytes=self.max_bytes,
            root=str(self.root),
        )

    def evict(self, max_bytes: int | None = None) -> list[str]:
        """Remove least recently accessed entries until the total is <= ``max_bytes``.

        ``max_bytes`` defaults to ``self.max_bytes``; with neither set nothing is
        evicted by size. Always removes crash debris older than an hour (stale
        ``.tmp-*`` files, audio without a sidecar). Returns the evicted keys.
        """
        return self._evict(self.max_bytes if max_bytes is None else max_bytes, keep=None)

    def _evict(self, cap: int | None, *, keep: str | None) -> list[str]:
        slots = list(self._scan(clean=True))
        if cap is None:
            return []
        total = sum(s.size for s in slots)
        evicted: list[str] = []
        for slot in sorted(slots, key=lambda s: (s.sidecar.st_mtime_ns, s.key)):
            if total <= cap:
                break
            if slot.key == keep:
                continue
            with dir_lock(slot.directory):
                try:
                    now = os.stat(slot.directory / f"{slot.key}.json")
                except FileNotFoundError:
                    total -= slot.size  # someone else removed it
                    continue
                if (now.st_ino, now.st_mtime_ns) != (slot.sidecar.st_ino, slot.sidecar.st_mtime_ns):
                    continue  # read or rewritten since the scan: no longer the LRU one
                self._remove_files(slot.key, slot.directory)
            total -= slot.size
            evicted.append(slot.key)
        if evicted and self.on_evict is not None:
            try:
                self.on_evict(len(evicted))
            except Exception:
                # Only bookkeeping: the entries are gone and a put's audio is
                # committed, so a failing counter must not fail the caller.
                log.debug("on_evict hook failed", exc_info=True)
        return evicted

    def _scan(self, *, clean: bool) -> Iterator[_Slot]:
        """Stat every file once; group by key. With ``clean``, remove stale debris."""
        stale_before = time.time() - STALE_AFTER_S
        for directory in _leaf_dirs(self.audio_root):
            sidecars: dict[str, os.stat_result] = {}
            audio: dict[str, list[tuple[Path, os.stat_result]]] = {}
            with os.scandir(directory) as it:
                for de in it:
                    try:
                        st = de.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    stem, _, ext = de.name.partition(".")
                    if de.name.startswith(TMP_PREFIX) or ext.startswith("live."):
                        # A live name an hour untouched was left by a crashed writer.
                        if clean and st.st_mtime < stale_before:
                            unlink_quiet(Path(de.path))
                    elif de.name == LOCK_NAME or not is_valid_key(stem):
                        continue
                    elif ext == "json":
                        sidecars[stem] = st
                    elif ext in FORMATS:
                        audio.setdefault(stem, []).append((Path(de.path), st))
            for key, st in sidecars.items():
                size = st.st_size + sum(a.st_size for _, a in audio.get(key, []))
                yield _Slot(key=key, directory=directory, sidecar=st, size=size)
            if clean:
                orphans = [
                    (key, files)
                    for key, files in audio.items()
                    if key not in sidecars and all(a.st_mtime < stale_before for _, a in files)
                ]
                for key, files in orphans:
                    # Under the lock no put is between its two renames, so audio
                    # without a sidecar here really is debris from a crash.
                    with dir_lock(directory):
                        if not (directory / f"{key}.json").exists():
                            for path, _ in files:
                                unlink_quiet(path)


def _identity(path: Path, st: os.stat_result) -> tuple[str, int, int, int, int]:
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _leaf_dirs(audio_root: Path) -> Iterator[Path]:
    for first in sorted(audio_root.iterdir()):
        if len(first.name) != 2 or not first.is_dir():
            continue
        for second in sorted(first.iterdir()):
            if len(second.name) == 2 and second.is_dir():
                yield second


def _adopt(source: Path, directory: Path, fmt: str) -> Path:
    """Get ``source`` to a ``.tmp-*`` name in ``directory`` (rename, or copy across filesystems)."""
    if source.name.startswith(TMP_PREFIX) and os.path.realpath(source.parent) == os.path.realpath(
        directory
    ):
        return source
    tmp = make_temp(directory, f".{fmt}")
    try:
        try:
            os.replace(source, tmp)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copyfile(source, tmp)
            source.unlink()
    except BaseException:
        unlink_quiet(tmp)
        raise
    return tmp


def _entry_from_sidecar(key: str, directory: Path, data: Any, last_access: float) -> Entry:
    """Build an Entry from parsed sidecar JSON, raising _Corrupt if any field is off."""
    if not isinstance(data, dict) or data.get("key") != key:
        raise _Corrupt
    fmt = data.get("fmt")
    nbytes = data.get("bytes")
    content_hash = data.get("content_hash")
    duration_s = data.get("duration_s")
    title = data.get("title")
    created = data.get("created")
    if (
        not isinstance(fmt, str)
        or fmt not in FORMATS
        or not isinstance(nbytes, int)
        or isinstance(nbytes, bool)
        or nbytes < 0
        or not isinstance(content_hash, str)
        or not is_valid_key(content_hash)  # same shape: 64 lowercase hex
        or not _is_number(duration_s)
        or not _is_number(created)
        or not (title is None or isinstance(title, str))
    ):
        raise _Corrupt
    return Entry(
        key=key,
        audio_path=directory / f"{key}.{fmt}",
        fmt=fmt,
        bytes=nbytes,
        content_hash=content_hash,
        duration_s=float(duration_s),
        title=title,
        created=float(created),
        last_access=last_access,
        meta=data,
    )


def _is_number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool)
