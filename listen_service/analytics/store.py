"""Listening counters per site and article: numbers only, nothing about who listened.

Each (site, article) has the counters of ``COUNTERS``; ``add`` raises some of them
at once, ``site`` reads every article's of a site. No address, user agent, cookie,
time of an event or order of events is kept, so no reader can be told apart.

- Redis mode: one hash per site, ``listen:analytics:<site>``, whose fields are
  ``<article id>:<counter>``, raised with ``HINCRBY`` in one transaction: every
  web process of every machine adds to the same numbers.
- Embedded mode: ``<data>/analytics.sqlite3``, one row per (site, article),
  raised with an UPSERT. SQLite locks the file for each write, so every thread
  and every web process sharing the data directory on one machine (gunicorn's,
  under ``listen-service web``) adds without losing counts, and a crash
  mid-write leaves the file whole (its journal); Python's standard library
  has it, nothing to install. Redis's hashes need a Redis, which embedded
  mode does without.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import redis

COUNTERS = (
    "plays",
    "p25",
    "p50",
    "p75",
    "p100",
    "listened_ms",
    "speed_changes",
    "downloads",
)


class AnalyticsStore:
    def add(self, site: str, article: str, counts: Mapping[str, int]) -> None:
        """Raise ``article``'s counters of ``site`` by ``counts`` (names of ``COUNTERS``)."""
        raise NotImplementedError

    def site(self, site: str) -> dict[str, dict[str, int]]:
        """{article id: {counter: value}} of every article of ``site`` counted so far."""
        raise NotImplementedError


def _check(counts: Mapping[str, int]) -> None:
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")


class RedisAnalyticsStore(AnalyticsStore):
    def __init__(self, client: redis.Redis, prefix: str = "listen:") -> None:
        self.client = client
        self.prefix = prefix

    def key(self, site: str) -> str:
        return f"{self.prefix}analytics:{site}"

    def add(self, site: str, article: str, counts: Mapping[str, int]) -> None:
        _check(counts)
        pipe = self.client.pipeline(transaction=True)
        for name, n in counts.items():
            pipe.hincrby(self.key(site), f"{article}:{name}", n)
        pipe.execute()

    def site(self, site: str) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        raw: dict[bytes, bytes] = self.client.hgetall(self.key(site))  # type: ignore[assignment]
        for field, value in raw.items():
            article, _, name = field.decode().rpartition(":")
            if name in COUNTERS:
                found.setdefault(article, dict.fromkeys(COUNTERS, 0))[name] = int(value)
        return found


class SqliteAnalyticsStore(AnalyticsStore):
    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / "analytics.sqlite3"
        self._made = False

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: the web server may run each request in a thread of
        # its own, and a connection must not cross a fork.
        if not self._made:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        # WAL: readers never wait for a writer. NORMAL: a commit is not synced at
        # once; a power cut may lose the last counts, never the file.
        db.execute("PRAGMA synchronous=NORMAL")
        if not self._made:
            db.execute("PRAGMA journal_mode=WAL")
            columns = ", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in COUNTERS)
            db.execute(
                "CREATE TABLE IF NOT EXISTS counts (site TEXT NOT NULL, article TEXT NOT NULL, "
                f"{columns}, PRIMARY KEY (site, article))"
            )
            self._made = True
        return db

    def add(self, site: str, article: str, counts: Mapping[str, int]) -> None:
        _check(counts)
        if not counts:
            return
        names = list(counts)  # checked against COUNTERS above: safe in the statement
        raise_by = ", ".join(f"{n} = {n} + excluded.{n}" for n in names)
        with closing(self._connect()) as db:
            db.execute(
                f"INSERT INTO counts (site, article, {', '.join(names)}) "
                f"VALUES (?, ?, {', '.join('?' for _ in names)}) "
                f"ON CONFLICT (site, article) DO UPDATE SET {raise_by}",
                (site, article, *(counts[n] for n in names)),
            )

    def site(self, site: str) -> dict[str, dict[str, int]]:
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT article, {', '.join(COUNTERS)} FROM counts WHERE site = ?", (site,)
            ).fetchall()
        return {row[0]: dict(zip(COUNTERS, row[1:], strict=True)) for row in rows}


def open_analytics(config: Mapping[str, Any]) -> AnalyticsStore:
    """Redis when the service has a Redis URL (several machines), else SQLite in its data dir."""
    if config["LISTEN_REDIS_URL"]:
        from workers.jobs import redis_client

        return RedisAnalyticsStore(redis_client(config["LISTEN_REDIS_URL"]))
    return SqliteAnalyticsStore(config["LISTEN_DATA_DIR"])
