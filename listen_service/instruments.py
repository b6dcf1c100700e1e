"""The web side's metric objects and the Flask hooks that move them.

Each process counts in its own memory, or, when ``PROMETHEUS_MULTIPROC_DIR``
is set (``listen-service web``: gunicorn's processes), in its files there,
which ``/metrics`` adds up (``listen_service.ops.metrics``). Import this
module only after ``listen_service.metricsdir.claim`` when there is one.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# ``_created`` series: not kept by the multiprocess files, so left out everywhere.
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "listen_http_requests",
    "HTTP requests answered, by route (the URL rule, not the path), method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "listen_http_request_duration_seconds",
    "seconds from a request's arrival to its response (an event stream: until its headers)",
    ["route", "method"],
    buckets=HTTP_BUCKETS,
)
IN_PROGRESS = Gauge(
    "listen_http_requests_in_progress",
    "requests being answered now, all web processes",
    multiprocess_mode="livesum",
)
JOBS_ACCEPTED = Counter(
    "listen_jobs_accepted",
    "jobs accepted for synthesis (new or after a failure), by lane",
    ["lane"],
)
CACHE = Counter(
    "listen_cache_requests",
    "POST /api/v1/listen: answered from the audio cache (hit) or needing a job (miss)",
    ["result"],
)

LISTEN_ROUTE = "/api/v1/listen"


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _started() -> None:
    g.listen_metrics_started = time.perf_counter()
    g.listen_metrics_in_progress = True
    IN_PROGRESS.inc()


def _answered(response: Response) -> Response:
    started = g.pop("listen_metrics_started", None)
    if started is None:  # a before_request hook ahead of ours answered
        return response
    route, method = _route(), request.method
    LATENCY.labels(route, method).observe(time.perf_counter() - started)
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    if route == LISTEN_ROUTE and method == "POST" and response.status_code in (200, 202):
        CACHE.labels("hit" if response.status_code == 200 else "miss").inc()
    return response


def _done(_: BaseException | None) -> None:
    # Every request that entered _started leaves here, error or not.
    if g.pop("listen_metrics_in_progress", False):
        IN_PROGRESS.dec()


def init_app(app: Flask) -> None:
    """Count every request: ``before_request`` first, so that others' early answers count."""
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_answered)
    app.teardown_request(_done)


def job_accepted(lane: str) -> None:
    JOBS_ACCEPTED.labels(lane).inc()
