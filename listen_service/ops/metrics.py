"""``/metrics``: the service's figures in Prometheus text format, by ``prometheus_client``.

One scrape adds up three sources (docs/operations.md, "Metrics"):

* this web's processes: under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set by
  ``listen-service web``) the files of all its processes, else this process's
  own registry (``serve``, ``flask run``, tests);
* with ``LISTEN_WORKER_METRICS_PORT`` = 0 (the default), the files of the
  Celery workers on this host (``listen_service.metricsdir``);
* figures read at scrape time (``Service``): health, queue depth per lane,
  cache and disk, job counts, the time-to-first-audio histogram every worker
  of every machine adds to in the job store, and live workers
  (``app.extensions["listen_live_workers"]``, a callable returning their
  number: ``ops.health.live_workers``, from the worker registry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from flask import Flask, Response, current_app
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from listen_service import metricsdir
from listen_service.lanes import LANE_NAMES
from listen_service.ops import bp
from listen_service.ops.health import _unreachable, health
from workers.jobs import Histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LiveWorkers = Callable[[], int]


class ProcessFiles(Collector):
    """The multiprocess files of the directories ``folders()`` names, added up."""

    def __init__(self, folders: Callable[[], Iterable[Path]]) -> None:
        self.folders = folders

    def collect(self) -> Iterable[Metric]:
        for _ in range(3):
            files = [str(f) for folder in self.folders() for f in sorted(folder.glob("*.db"))]
            try:
                return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]
            except FileNotFoundError:  # a dead group's directory removed meanwhile: again
                continue
        return []


class Service(Collector):
    """What ``/healthz`` checks, and the job store's shared figures, at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        report, ok = health(self.app)
        yield _gauge("listen_up", "1 when /healthz would say ok, else 0", int(ok))
        depth = GaugeMetricFamily(
            "listen_queue_depth",
            "messages waiting for a worker, by lane; -1: broker unreachable",
            labels=["lane"],
        )
        depths = report.get("queue_depth_by_lane") or dict.fromkeys(LANE_NAMES.values(), -1)
        for lane, n in depths.items():
            depth.add_metric([lane], n)
        yield depth
        if "broker_quarantined" in report:
            yield _gauge(
                "listen_broker_quarantined",
                "unreadable broker files set aside (embedded mode)",
                report["broker_quarantined"],
            )
        yield _gauge("listen_cache_bytes", "bytes in the audio cache", report["cache"]["bytes"])
        yield _gauge(
            "listen_cache_entries", "entries in the audio cache", report["cache"]["entries"]
        )
        yield _gauge(
            "listen_disk_free_bytes",
            "free bytes on the data directory's disk; -1: unreadable",
            report["disk"].get("free_bytes", -1),
        )
        if isinstance(report.get("jobs"), dict):
            jobs = GaugeMetricFamily("listen_jobs", "job records per status", labels=["status"])
            for status, n in sorted(report["jobs"].items()):
                jobs.add_metric([status], n)
            yield jobs
            yield from self._first_audio()
        live: LiveWorkers | None = self.app.extensions.get("listen_live_workers")
        if live is not None:
            try:
                yield _gauge("listen_workers_live", "workers with a recent heartbeat", live())
            except Exception as exc:  # the store just answered; a blip leaves it out
                _unreachable(self.app, "worker registry", exc)

    def _first_audio(self) -> Iterator[Metric]:
        try:
            hist = self.app.extensions["listen_jobs"].first_audio_histogram()
        except Exception as exc:
            _unreachable(self.app, "job store", exc)
            return
        yield first_audio_family(hist)


def first_audio_family(hist: Histogram) -> HistogramMetricFamily:
    """The job store's cumulative counts as ``listen_time_to_first_audio_seconds``."""
    le = [floatToGoString(b) for b in hist.bounds]  # type: ignore[no-untyped-call]
    buckets = list(zip(le, hist.counts, strict=True))
    return HistogramMetricFamily(
        "listen_time_to_first_audio_seconds",
        "seconds from accepting a job to its first audio written, per attempt, all workers",
        buckets=[*buckets, ("+Inf", hist.count)],
        sum_value=hist.sum,
    )


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def combine(families: Iterable[Metric]) -> list[Metric]:
    """One family per name, samples with the same name and labels added up: this
    process's registry and the files hold the same families (zero in one of them)."""
    merged: dict[str, Metric] = {}
    for family in families:
        into = merged.get(family.name)
        if into is None:
            into = merged[family.name] = Metric(family.name, family.documentation, family.type)
            into.samples = []
        index = {(s.name, tuple(sorted(s.labels.items()))): i for i, s in enumerate(into.samples)}
        for sample in family.samples:
            at = index.get((sample.name, tuple(sorted(sample.labels.items()))))
            if at is None:
                into.samples.append(sample)
            else:
                into.samples[at] = into.samples[at]._replace(
                    value=into.samples[at].value + sample.value
                )
    return list(merged.values())


class _Combined(Collector):
    def __init__(self, sources: list[Collector]) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        return combine(f for source in self.sources for f in source.collect())


def _processes(app: Flask) -> _Combined:
    """The counters and histograms of this host's web and worker processes, added up."""
    own = metricsdir.own()
    include_workers = not app.config["LISTEN_WORKER_METRICS_PORT"]

    def folders() -> list[Path]:
        found = [own] if own is not None else []
        if include_workers:
            found += metricsdir.groups(app.config, ["worker"])
        return found

    sources: list[Collector] = [ProcessFiles(folders)]
    if own is None:  # one process: its own registry
        sources.append(REGISTRY)
    return _Combined(sources)


def registry_for(app: Flask) -> CollectorRegistry:
    """What one scrape of ``app``'s ``/metrics`` reads."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_processes(app))
    registry.register(Service(app))
    return registry


def counter_totals(app: Flask, names: set[str]) -> dict[tuple[str, tuple[str, ...]], float]:
    """The counters ``names`` (without ``_total``) of this host's processes, by
    (name, label values): what the console shows of the cache."""
    return {
        (family.name, tuple(sample.labels.values())): sample.value
        for family in _processes(app).collect()
        if family.name in names
        for sample in family.samples
        if sample.name == f"{family.name}_total"
    }


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(registry_for(current_app)), content_type=CONTENT_TYPE)


__all__ = [
    "ProcessFiles",
    "Service",
    "combine",
    "counter_totals",
    "first_audio_family",
    "metrics",
]
