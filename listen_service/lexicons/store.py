"""Where each site's lexicon is kept: files (one machine) or Redis (several).

Both keep a site's entries as the JSON of ``Lexicon.to_json`` with a
*version* that changes whenever they do, so that ``LexiconStore.lexicon``
parses a lexicon once per change rather than once per request.

``FileLexiconStore(data_dir)``
    ``<data_dir>/lexicons/<sha256 of the site>.json``, written to a temp file
    beside it, fsynced and ``os.replace``d, so a reader sees the old lexicon
    or the new one. Its version is the SHA-256 of the file (read each time:
    a page-cached read and a hash cost far less than parsing the lexicon).

``RedisLexiconStore(client, prefix="listen:")``
    A hash ``<prefix>lexicon:<site>`` with ``entries`` (the JSON) and
    ``version`` (its SHA-256), written in one ``HSET``; no expiry.

An empty lexicon is stored as no file / no key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import redis

# The audio store's atomic write (temp file beside the target, fsync, os.replace).
from audio_cache._fs import atomic_write_bytes, fsync_dir
from workers.lexicon import Lexicon


class LexiconStore:
    """Shared by both stores: a parsed-lexicon cache in front of ``_version`` / ``_read``."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[str, Lexicon]] = {}
        self._lock = threading.Lock()

    def _version(self, site: str) -> str | None:
        raise NotImplementedError

    def _read(self, site: str) -> tuple[str, bytes] | None:
        raise NotImplementedError

    def _write(self, site: str, data: bytes | None) -> None:
        raise NotImplementedError

    def lexicon(self, site: str) -> Lexicon:
        """The site's lexicon (empty if it has none); ``LexiconError`` if what is stored no
        longer validates."""
        version = self._version(site)
        if version is None:
            return Lexicon()
        with self._lock:
            cached = self._parsed.get(site)
        if cached is not None and cached[0] == version:
            return cached[1]
        stored = self._read(site)
        if stored is None:
            return Lexicon()
        version, data = stored
        lexicon = Lexicon.from_json(json.loads(data)["entries"])
        with self._lock:
            self._parsed[site] = (version, lexicon)
        return lexicon

    def put(self, site: str, lexicon: Lexicon) -> None:
        """Replace the site's lexicon (an empty one removes it)."""
        data = None
        if len(lexicon):
            record = {"site": site, "entries": lexicon.to_json()}
            data = json.dumps(record, ensure_ascii=False).encode("utf-8")
        self._write(site, data)


class FileLexiconStore(LexiconStore):
    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.root = Path(data_dir) / "lexicons"

    def path(self, site: str) -> Path:
        # Site names are the operator's free text; a hash makes any of them a safe file name.
        return self.root / f"{hashlib.sha256(site.encode('utf-8')).hexdigest()[:40]}.json"

    def _version(self, site: str) -> str | None:
        stored = self._read(site)
        return None if stored is None else stored[0]

    def _read(self, site: str) -> tuple[str, bytes] | None:
        # The version is the content's hash: an inode, size and mtime can all
        # repeat across two quick writes (inodes are reused, mtimes are coarse).
        try:
            data = self.path(site).read_bytes()
        except FileNotFoundError:
            return None
        return hashlib.sha256(data).hexdigest(), data

    def _write(self, site: str, data: bytes | None) -> None:
        path = self.path(site)
        if data is None:
            path.unlink(missing_ok=True)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        fsync_dir(self.root)


class RedisLexiconStore(LexiconStore):
    def __init__(self, client: redis.Redis, prefix: str = "listen:") -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix

    def key(self, site: str) -> str:
        return f"{self.prefix}lexicon:{site}"

    def _version(self, site: str) -> str | None:
        version = self.client.hget(self.key(site), "version")
        return None if version is None else _text(version)

    def _read(self, site: str) -> tuple[str, bytes] | None:
        version, data = self.client.hmget(self.key(site), ["version", "entries"])
        if version is None or data is None:
            return None
        return _text(version), data if isinstance(data, bytes) else data.encode("utf-8")

    def _write(self, site: str, data: bytes | None) -> None:
        if data is None:
            self.client.delete(self.key(site))
            return
        version = hashlib.sha256(data).hexdigest()
        self.client.hset(self.key(site), mapping={"entries": data, "version": version})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def open_lexicons(redis_url: str, data_dir: Path) -> LexiconStore:
    """Redis when the service has a Redis URL (web and workers may be apart), else files."""
    if redis_url:
        from workers.jobs import redis_client

        return RedisLexiconStore(redis_client(redis_url))
    return FileLexiconStore(data_dir)
