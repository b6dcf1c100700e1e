"""What one load of the ``/ops`` console costs with many jobs in the store.

Fills a fresh job store (files, or Redis with ``--redis URL``) with ``--jobs``
records accepted over the last two hours — ready ones with their times, one
in twenty failed — then times ``GET /ops`` (the page an operator's browser
reloads every ``LISTEN_OPS_REFRESH_SECONDS``) and, as the reference in the
same run, ``GET /api/v1/ops/jobs`` (the newest 50, what the page lists).

Run from the repository root::

    python -m benchmarks.ops_console [--jobs 5000] [--runs 5] [--redis redis://127.0.0.1:6379/9]

The Redis database given is emptied first. The last line of stdout is one
JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from typing import Any

import redis

from benchmarks._common import machine_info, median, utc_now
from listen_service import create_app
from workers.jobs.redis import redis_client

TOKEN = "benchmark-operator-token"


def fill(app: Any, jobs: int) -> None:
    store = app.extensions["listen_jobs"]
    now = time.time()
    for n in range(jobs):
        store._clock = lambda n=n: now - 7000 + 7000 * n / jobs  # spread over two hours
        job_id = secrets.token_hex(32)
        store.accept(job_id, {"text": "x" * 2000, "title": f"Article {n}"}, site="news")
        store.start(job_id, "bench:1")
        store.first_audio(job_id, 0.3)
        if n % 20 == 0:
            store.fail(job_id, "encoder_failed", "exit 1")
        else:
            store.finish(job_id, 60.0, synthesis_s=2.0)


def timed(client: Any, path: str, runs: int) -> list[float]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/html"}
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--redis", default="", help="a Redis URL (its database is emptied)")
    args = parser.parse_args()
    config: dict[str, Any] = {"LISTEN_DATA_DIR": tempfile.mkdtemp(), "LISTEN_OPS_TOKEN": TOKEN}
    if args.redis:
        client: redis.Redis = redis_client(args.redis)
        client.flushdb()
        config["LISTEN_BROKER_URL"] = args.redis
        config["LISTEN_REDIS_URL"] = args.redis
    app = create_app(config)
    started = time.perf_counter()
    fill(app, args.jobs)
    filled_s = time.perf_counter() - started
    test_client = app.test_client()
    console = timed(test_client, "/ops", args.runs)
    api = timed(test_client, "/api/v1/ops/jobs", args.runs)
    result = {
        "date": utc_now(),
        "machine": machine_info(),
        "store": "redis" if args.redis else "files",
        "jobs": args.jobs,
        "fill_s": round(filled_s, 1),
        "console_median_s": round(median(console), 4),
        "api_jobs_median_s": round(median(api), 4),
        "ratio": round(median(console) / median(api), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
