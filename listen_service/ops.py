"""What operators look at: ``/healthz`` (liveness, queue, disk) and ``/metrics``.

``/healthz`` is 503 while the broker or job store is unreachable or the data
directory's free space is below ``LISTEN_MIN_FREE_BYTES``, and says which.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify

from listen_service.config import embedded
from listen_service.fsbroker import broker_dir, message_files, quarantined
from listen_service.lanes import LANE_NAMES, QUEUES
from listen_service.storage import free_bytes, shortage
from workers.jobs import Histogram, JobStore

bp = Blueprint("ops", __name__)


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
    stats = app.extensions["listen_cache"].stats()
    report["cache"] = {"entries": stats.entries, "bytes": stats.bytes, "max_bytes": stats.max_bytes}
    report["checked_in_ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["status"] = "ok" if ok else "unavailable"
    return report, ok


def histogram_lines(name: str, help_text: str, hist: Histogram) -> list[str]:
    """``hist`` in Prometheus text format: cumulative buckets, then ``_sum`` and ``_count``."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for bound, count in zip(hist.bounds, hist.counts, strict=True):
        lines.append(f'{name}_bucket{{le="{bound:g}"}} {count}')
    lines += [
        f'{name}_bucket{{le="+Inf"}} {hist.count}',
        f"{name}_sum {hist.sum!r}",
        f"{name}_count {hist.count}",
    ]
    return lines


def _first_audio_lines(jobs: JobStore) -> list[str]:
    try:
        hist = jobs.first_audio_histogram()
    except Exception as exc:  # the store just answered; a blip leaves the metric out
        _unreachable(current_app, "job store", exc)
        return []
    return histogram_lines(
        "listen_time_to_first_audio_seconds",
        "seconds from accepting a job to its first audio written, per attempt, all workers",
        hist,
    )


@bp.get("/healthz")
def healthz() -> Response:
    report, ok = health(current_app)
    response = jsonify(report)
    response.status_code = 200 if ok else 503
    if not ok:
        response.headers["Retry-After"] = "5"
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format."""
    report, ok = health(current_app)
    lines = [
        "# TYPE listen_up gauge",
        f"listen_up {int(ok)}",
        "# HELP listen_queue_depth messages waiting for a worker, by lane; -1: broker unreachable",
        "# TYPE listen_queue_depth gauge",
    ]
    depths = report.get("queue_depth_by_lane") or dict.fromkeys(LANE_NAMES.values(), -1)
    lines += [f'listen_queue_depth{{lane="{lane}"}} {n}' for lane, n in depths.items()]
    if "broker_quarantined" in report:
        lines += [
            "# HELP listen_broker_quarantined unreadable broker files set aside (embedded mode)",
            "# TYPE listen_broker_quarantined gauge",
            f"listen_broker_quarantined {report['broker_quarantined']}",
        ]
    lines += [
        "# TYPE listen_cache_bytes gauge",
        f"listen_cache_bytes {report['cache']['bytes']}",
        "# TYPE listen_cache_entries gauge",
        f"listen_cache_entries {report['cache']['entries']}",
        "# TYPE listen_disk_free_bytes gauge",
        f"listen_disk_free_bytes {report['disk'].get('free_bytes', -1)}",
        "# TYPE listen_jobs gauge",
    ]
    if isinstance(report.get("jobs"), dict):
        lines += [f'listen_jobs{{status="{k}"}} {v}' for k, v in sorted(report["jobs"].items())]
        lines += _first_audio_lines(current_app.extensions["listen_jobs"])
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
