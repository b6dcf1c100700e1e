"""The embedded mode's listening counters (SQLite in the data directory) lose no count when
several processes, each with several threads, add to the same article at once."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from listen_service.analytics.store import COUNTERS, SqliteAnalyticsStore

ARTICLE = "ab" * 32
PROCESSES, THREADS, ADDS = 3, 4, 25


def _add_many(data_dir: str) -> None:
    store = SqliteAnalyticsStore(data_dir)

    def run() -> None:
        for _ in range(ADDS):
            store.add("news", ARTICLE, {"plays": 1, "listened_ms": 250})

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_processes_and_threads_adding_at_once_lose_no_count(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_add_many, args=(str(tmp_path),)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    counted = SqliteAnalyticsStore(tmp_path).site("news")
    n = PROCESSES * THREADS * ADDS
    assert counted == {ARTICLE: {**dict.fromkeys(COUNTERS, 0), "plays": n, "listened_ms": 250 * n}}
    assert SqliteAnalyticsStore(tmp_path).site("blog") == {}
