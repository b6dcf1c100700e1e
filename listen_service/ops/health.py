"""``/healthz``: can the service do its work? ``/livez``: is this web process alive?

``/healthz`` is 503 while the broker or job store is unreachable, the data
directory's free space is below ``LISTEN_MIN_FREE_BYTES``, no worker process
has sent a heartbeat for ``LISTEN_WORKER_STALE_SECONDS``, or most of the jobs
that ended in the last ``LISTEN_HEALTH_WINDOW_SECONDS`` failed; it says which.
``/livez`` touches nothing outside the process: 200 while it answers at all.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Flask, Response, current_app, jsonify

from listen_service.config import embedded
from listen_service.fsbroker import broker_dir, message_files, quarantined
from listen_service.lanes import LANE_NAMES, QUEUES
from listen_service.ops import bp
from listen_service.storage import free_bytes, shortage
from workers.registry import WorkerRegistry, recent_outcomes

# Fewer ended jobs than this in the window say nothing about a failure rate.
HEALTH_MIN_JOBS = 5


def queue_depths(app: Flask) -> dict[str, int]:
    """Messages waiting in the broker for a worker (not those being worked on), by lane."""
    if embedded(app.config):
        folder = broker_dir(app.config["LISTEN_DATA_DIR"]) / "queue"
        return {LANE_NAMES[q]: len(message_files(folder, q)) for q in QUEUES}
    # A direct client with short timeouts: Celery's connection retries for
    # seconds, too long for a health check.
    client = redis.Redis.from_url(
        app.config["LISTEN_BROKER_URL"], socket_connect_timeout=1, socket_timeout=1
    )
    with client, client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(queue)
        return {LANE_NAMES[q]: int(n) for q, n in zip(QUEUES, pipe.execute(), strict=True)}


def _unreachable(app: Flask, what: str, exc: Exception) -> str:
    # /healthz is public: the detail (paths, hosts) goes to the log only.
    app.logger.warning("health check: %s unreachable: %s", what, exc)
    return f"unreachable ({type(exc).__name__})"


def live_workers(app: Flask) -> int:
    """Worker processes with a heartbeat younger than LISTEN_WORKER_STALE_SECONDS."""
    registry: WorkerRegistry = app.extensions["listen_workers"]
    stale_s: float = app.config["LISTEN_WORKER_STALE_SECONDS"]
    now = time.time()
    return sum(1 for entry in registry.entries() if entry.alive(now, stale_s))


def workers_report(app: Flask, now: float) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(the ``workers`` and ``recent_jobs`` parts of the report, whether both are healthy).

    Also prunes entries stale for longer than the window (their outcomes are all older).
    """
    registry: WorkerRegistry = app.extensions["listen_workers"]
    stale_s: float = app.config["LISTEN_WORKER_STALE_SECONDS"]
    window_s: float = app.config["LISTEN_HEALTH_WINDOW_SECONDS"]
    entries = registry.entries()
    forget_before = now - max(window_s, stale_s)
    if any(e.heartbeat < forget_before for e in entries):
        registry.prune(forget_before)
        entries = [e for e in entries if e.heartbeat >= forget_before]
    alive = [e for e in entries if e.alive(now, stale_s)]
    workers: dict[str, Any] = {
        "alive": len(alive),
        "nodes": sorted({e.node for e in alive}),
        "stale": len(entries) - len(alive),
        "status": "ok" if alive else f"no worker heartbeat in {stale_s:g} s",
    }
    outcomes = recent_outcomes(entries, now - window_s)
    ratio: float = app.config["LISTEN_HEALTH_FAILURE_RATIO"]
    rate = outcomes.failure_rate
    failing = outcomes.finished >= HEALTH_MIN_JOBS and rate is not None and rate >= ratio
    jobs: dict[str, Any] = {
        "window_s": window_s,
        "ended": outcomes.finished,
        "failed": outcomes.failed,
        "failure_rate": None if rate is None else round(rate, 3),
        "status": f"{outcomes.failed} of the last {outcomes.finished} jobs failed"
        if failing
        else "ok",
    }
    return workers, jobs, bool(alive) and not failing


def health(app: Flask) -> tuple[dict[str, Any], bool]:
    report: dict[str, Any] = {"mode": "embedded" if embedded(app.config) else "redis"}
    ok = True
    started = time.perf_counter()
    try:
        by_lane = queue_depths(app)
        report["queue_depth"] = sum(by_lane.values())
        report["queue_depth_by_lane"] = by_lane
        report["broker"] = "ok"
        if embedded(app.config):
            # Set aside, not lost silently: each one is a broker file nobody could read.
            report["broker_quarantined"] = quarantined(app.config["LISTEN_DATA_DIR"])
    except Exception as exc:  # any broker failure is reported, not raised
        report["broker"] = _unreachable(app, "broker", exc)
        ok = False
    try:
        report["jobs"] = app.extensions["listen_jobs"].counts()
    except Exception as exc:
        report["jobs"] = _unreachable(app, "job store", exc)
        ok = False
    try:
        problem = shortage(app.config)
        report["disk"] = {
            "free_bytes": free_bytes(app.config),
            "min_free_bytes": app.config["LISTEN_MIN_FREE_BYTES"],
            "status": problem or "ok",
        }
    except OSError as exc:  # the data directory itself is gone or unreadable
        problem = _unreachable(app, "data directory", exc)
        report["disk"] = {"status": problem}
    if problem is not None:
        ok = False
    try:
        report["workers"], report["recent_jobs"], working = workers_report(app, time.time())
    except Exception as exc:  # the registry is in the job store: same failure, same answer
        report["workers"] = _unreachable(app, "worker registry", exc)
        working = False
    ok = ok and working
    stats = app.extensions["listen_cache"].stats()
    report["cache"] = {"entries": stats.entries, "bytes": stats.bytes, "max_bytes": stats.max_bytes}
    report["checked_in_ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["status"] = "ok" if ok else "unavailable"
    return report, ok


@bp.get("/healthz")
def healthz() -> Response:
    report, ok = health(current_app)
    response = jsonify(report)
    response.status_code = 200 if ok else 503
    if not ok:
        response.headers["Retry-After"] = "5"
    return response


@bp.get("/livez")
def livez() -> Response:
    """Liveness: 200 while this process answers; no store, broker or disk is consulted."""
    return jsonify({"status": "ok"})
