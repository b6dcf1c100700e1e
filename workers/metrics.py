"""The worker's metric objects, moved by Celery's task signals.

Each pool process writes its values to the worker's multiprocess directory
(``listen_service.metricsdir``, claimed by ``workers.celery_app`` before this
is imported). Who reads them: any web on the same host with the same metrics
directory, in its ``/metrics`` (``LISTEN_WORKER_METRICS_PORT`` = 0, the
default; always so under ``serve``), or with a port set, this worker itself
on that port — for workers on machines of their own (docs/operations.md,
"Metrics"). Tasks other than ``listen.synthesize`` are not counted.
Cache evictions are counted by the worker's cache itself (``on_evict``), as
its puts make them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.exceptions import Retry
from celery.signals import task_failure, task_postrun, task_prerun, task_retry, worker_ready
from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from listen_service import metricsdir

log = logging.getLogger(__name__)

TASK = "listen.synthesize"
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
SYNTHESIS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
AUDIO_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)

QUEUE_WAIT = Histogram(
    "listen_queue_wait_seconds",
    "seconds from a job's acceptance to a worker taking it up the first time",
    buckets=WAIT_BUCKETS,
)
SYNTHESIS = Histogram(
    "listen_synthesis_seconds",
    "seconds a worker spent on a job that it synthesised (not those found in the cache)",
    buckets=SYNTHESIS_BUCKETS,
)
AUDIO = Histogram(
    "listen_audio_seconds",
    "seconds of audio each synthesised job produced",
    buckets=AUDIO_BUCKETS,
)
FINISHED = Counter(
    "listen_jobs_finished",
    "jobs a worker finished with audio: synthesised, or cached (found made already)",
    ["result"],
)
FAILED = Counter("listen_jobs_failed", "jobs a worker gave up on, by error code", ["reason"])
RETRIED = Counter(
    "listen_jobs_retried",
    "job attempts put back for a retry, by reason (an error code, or lease_busy)",
    ["reason"],
)
EVICTIONS = Counter(
    "listen_cache_evictions",
    "audio cache entries a worker evicted (least recently used) to keep the cache under its cap",
)

WEBHOOK_DELIVERIES = Counter(
    "listen_webhook_deliveries",
    "webhook delivery attempts a worker made, by outcome (listen_service.webhooks.deliver)",
    ["outcome"],
)

_started: dict[str, float] = {}
_app: list[Flask] = []


def install(app: Flask) -> None:
    """Count the tasks of this worker, whose job store and settings are ``app``'s."""
    _app[:] = [app]
    # The very cache object the tasks put into (workers.tasks reads it from
    # this app, the one FlaskTask runs them under); set here, before the pool
    # forks, so every pool process inherits the hook with the cache.
    app.extensions["listen_cache"].on_evict = _evicted
    task_prerun.connect(_prerun)
    task_postrun.connect(_postrun)
    task_failure.connect(_failure)
    task_retry.connect(_retry)
    worker_ready.connect(_serve_port)


def _evicted(count: int) -> None:
    EVICTIONS.inc(count)


def _job_id(args: Any, kwargs: Any) -> str | None:
    if args:
        return str(args[0])
    return None if not kwargs else kwargs.get("job_id")


def _record(job_id: str | None) -> Any:
    if job_id is None or not _app:
        return None
    try:
        return _app[0].extensions["listen_jobs"].get(job_id)
    except Exception:  # a metric never fails a job
        log.debug("metrics: cannot read job %s", job_id, exc_info=True)
        return None


def _prerun(task_id: str, task: Any, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if task.name != TASK:
        return
    _started[task_id] = time.perf_counter()
    job = _record(_job_id(args, kwargs))
    if job is not None and job.status == "queued" and job.attempts == 0:
        # Wall clock: the web that accepted it may be on another machine.
        QUEUE_WAIT.observe(max(0.0, time.time() - job.accepted))


def _postrun(
    task_id: str, task: Any, args: Any = None, kwargs: Any = None, retval: Any = None, **_: Any
) -> None:
    started = _started.pop(task_id, None)
    if task.name != TASK or started is None:
        return
    if retval == "synthesised":
        SYNTHESIS.observe(time.perf_counter() - started)
        FINISHED.labels("synthesised").inc()
        job = _record(_job_id(args, kwargs))
        if job is not None and job.duration_s is not None:
            AUDIO.observe(job.duration_s)
    elif retval == "cached":
        FINISHED.labels("cached").inc()
    elif retval == "failed":  # an input error, recorded by the runner
        FAILED.labels(_reason(_record(_job_id(args, kwargs)), "input_error")).inc()


def _reason(job: Any, otherwise: str) -> str:
    error = getattr(job, "error", None) or {}
    return str(error.get("code") or otherwise)


def _failure(sender: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if getattr(sender, "name", None) == TASK:
        FAILED.labels(_reason(_record(_job_id(args, kwargs)), "internal_error")).inc()


def _retry(sender: Any = None, reason: Any = None, **_: Any) -> None:
    if getattr(sender, "name", None) != TASK:
        return
    exc = reason.exc if isinstance(reason, Retry) else reason
    if exc is None or isinstance(exc, Retry):
        RETRIED.labels("lease_busy").inc()  # waiting behind another process's lease
    else:
        RETRIED.labels(str(getattr(exc, "code", None) or type(exc).__name__)).inc()


def _serve_port(**_: Any) -> None:
    """With ``LISTEN_WORKER_METRICS_PORT``, this worker's own metrics on that port."""
    config = _app[0].config
    port: int = config["LISTEN_WORKER_METRICS_PORT"]
    if not port:
        return
    from listen_service.ops.metrics import ProcessFiles

    registry = CollectorRegistry()
    registry.register(ProcessFiles(lambda: [d for d in [metricsdir.own()] if d]))
    try:
        start_http_server(port, registry=registry)
    except OSError as exc:
        log.error("cannot serve this worker's metrics on port %d: %s", port, exc)
        return
    log.info("this worker's metrics at http://0.0.0.0:%d/metrics", port)
