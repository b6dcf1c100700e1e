"""``/metrics``: the service's figures in Prometheus text format."""

from __future__ import annotations

from flask import Response, current_app

from listen_service.lanes import LANE_NAMES
from listen_service.ops import bp
from listen_service.ops.health import _unreachable, health
from workers.jobs import Histogram, JobStore


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
