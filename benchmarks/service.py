"""Listen as deployed: cold Listen latency, cached audio, and a burst of articles.

Everything runs as real processes on 127.0.0.1, each mode in a fresh
``LISTEN_DATA_DIR``:

* embedded: ``listen-service serve --port 0 --concurrency 1`` (werkzeug and a
  Celery worker on kombu's filesystem broker, one command);
* redis: ``listen-service web`` (gunicorn) and ``listen-service worker`` with
  ``LISTEN_BROKER_URL`` set to a dedicated Redis database, flushed at the
  start and the end.

Three measurements:

1. Cold latency. After one untimed article, each of ``--articles`` distinct
   ~500-word articles is posted (``POST /api/v1/listen``) and its status
   long-polled (``GET status_url?wait=30``) until ready; latency is the moment
   "ready" is read minus the start of the POST. One at a time, alternating
   with the reference on the same text: ``espeak-ng --stdout | ffmpeg
   libmp3lame``, the least work that turns text into an MP3.
2. Cached audio. ``--requests`` sequential ``GET /audio/<id>.mp3`` on one
   persistent HTTP/1.1 connection, whole file and two byte ranges, each body
   read to the end; then the same number spread over ``--threads`` client
   threads, each with its own keep-alive connection, for requests/second.
3. Burst (redis mode). A worker with ``--concurrency 2``; ``--burst`` distinct
   articles posted by ``--clients`` threads as fast as they go, then every job
   long-polled until ready. Throughput = articles / (first POST to last
   ready), against the single-process pipeline: ``python -m
   listen_service.cli synth`` with a cold cache on ``--single-runs`` of the
   same articles, 1 / median wall time.

Run from the repository root (the full run takes several minutes; run it on
a quiet machine)::

    python -m benchmarks.service [--mode embedded|redis|both] [--articles 20]
        [--burst 100] [--requests 500] [--redis-url redis://127.0.0.1:6379/9]

Tables go to stdout, then PASS/MISS lines; the last line of stdout is one JSON
object with every figure. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from benchmarks._common import (
    REPO_ROOT,
    build_text,
    log,
    machine_info,
    median,
    now,
    utc_now,
)
from benchmarks.pipeline import Settings, run_project, run_reference

COLD_LIMIT_S = {"redis": 0.300, "embedded": 0.600}
AUDIO_P50_LIMIT_MS = 5.0
BURST_FRACTION = 0.8
BURST_WORKERS = 2
WAIT_S = 30
JOB_TIMEOUT_S = 300.0
START_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 60.0
WARMUP_INDEX = 0
BURST_FIRST_INDEX = 1001


# ── texts ────────────────────────────────────────────────────────────────


def article(index: int, words: int = 500) -> str:
    """About ``words`` words: "Article N." then the fixture's paragraphs, rotated by N."""
    return build_text(words, title=f"Article {index}.", shift=index)


def write_article(index: int, work: Path) -> tuple[str, Path]:
    text = article(index)
    path = work / f"article-{index}.txt"
    path.write_text(text, encoding="utf-8")
    return text, path


# ── processes ────────────────────────────────────────────────────────────


@dataclass(slots=True)
class Proc:
    """A child process in its own process group, logging to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM to the whole group, then SIGKILL to whatever is left of it."""
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in {grace:g} s; killing it")
        _signal_group(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def cli_command() -> list[str]:
    """``listen-service`` from this interpreter's environment."""
    script = Path(sys.executable).with_name("listen-service")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "listen_service.cli"]


def service_env(data_dir: Path, broker_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    env["LISTEN_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    # Every request of the benchmark comes from one address: the per-client
    # limits (meant for floods) would measure themselves, not the service.
    env["LISTEN_RATE_LIMIT_POST"] = ""
    env["LISTEN_RATE_LIMIT_STREAMS"] = ""
    if broker_url:
        env["LISTEN_BROKER_URL"] = broker_url
    return env


def spawn(name: str, args: Sequence[str], env: Mapping[str, str], work: Path) -> Proc:
    path = work / f"{name}.log"
    with path.open("ab") as handle:
        popen = subprocess.Popen(
            [*cli_command(), *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    return Proc(name, popen, path)


def wait_for_log(proc: Proc, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while True:
        match = regex.search(proc.text())
        if match is not None:
            return match
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"{proc.name} did not log {pattern!r} (exit {proc.popen.poll()}):\n"
                f"{proc.text()[-3000:]}"
            )
        time.sleep(0.05)


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of a process group's live members and the children they reaped."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state, ppid, pgrp, …; utime, stime, cutime, cstime are 11-14.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ── HTTP ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int

    def connect(self, timeout: float = HTTP_TIMEOUT_S) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection: status, headers, body."""
        conn = self.connect()
        try:
            hdrs = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        status, _, raw = self.call(method, path, body)
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {"raw": raw[:300].decode(errors="replace")}
        return status, parsed if isinstance(parsed, dict) else {"raw": parsed}


def wait_healthy(server: Server, procs: Sequence[Proc], timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited:\n{proc.text()[-3000:]}")
        try:
            status, body = server.json("GET", "/healthz")
            if status == 200:
                return
            last = f"{status} {body}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"/healthz never answered 200: {last}")


def listen_body(text: str, index: int, settings: Settings) -> dict[str, Any]:
    return {
        "text": text,
        "title": f"Article {index}",
        "voice": settings.voice,
        "rate": settings.rate,
        "bitrate": settings.bitrate,
    }


def post_article(server: Server, body: Mapping[str, Any]) -> dict[str, Any]:
    status, reply = server.json("POST", "/api/v1/listen", body)
    if status not in (200, 202):
        raise RuntimeError(f"POST /api/v1/listen answered {status}: {reply}")
    return reply


def path_of(url: str) -> str:
    """The path of a URL the service gave (absolute since it names its host)."""
    return urlsplit(url).path


def wait_ready(server: Server, reply: Mapping[str, Any], timeout: float = JOB_TIMEOUT_S) -> int:
    """Long-poll a job until it is ready; the number of status requests it took."""
    body = dict(reply)
    polls = 0
    deadline = time.monotonic() + timeout
    while body.get("status") != "ready":
        if body.get("status") == "failed":
            raise RuntimeError(f"job {body.get('id')} failed: {body.get('error')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {body.get('id')} not ready after {timeout:g} s: {body}")
        status, body = server.json("GET", f"{path_of(reply['status_url'])}?wait={WAIT_S}")
        polls += 1
        if status != 200:
            raise RuntimeError(f"GET {reply['status_url']} answered {status}: {body}")
    return polls


# ── statistics ───────────────────────────────────────────────────────────


def percentile(values: Sequence[float], pct: int) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[pct - 1]


def summary(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50) * scale, digits),
        "p95": round(percentile(values, 95) * scale, digits),
        "min": round(min(values) * scale, digits),
        "max": round(max(values) * scale, digits),
    }


# ── 1. cold latency ──────────────────────────────────────────────────────


@dataclass(slots=True)
class ColdResult:
    project_s: list[float] = field(default_factory=list)
    reference_s: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        p50_diff = percentile(self.project_s, 50) - percentile(self.reference_s, 50)
        paired = [p - r for p, r in zip(self.project_s, self.reference_s, strict=True)]
        return {
            "articles": len(self.project_s),
            "project_s": summary(self.project_s),
            "reference_s": summary(self.reference_s),
            "p50_difference_s": round(p50_diff, 3),
            "paired_difference_median_s": round(median(paired), 3),
            "post_ms": summary(self.post_ms, digits=1),
            "status_requests_median": median([float(p) for p in self.polls]),
            "project_runs_s": [round(v, 3) for v in self.project_s],
            "reference_runs_s": [round(v, 3) for v in self.reference_s],
        }


def listen_once(
    server: Server, text: str, index: int, settings: Settings
) -> tuple[float, float, int, dict[str, Any]]:
    """POST one article and long-poll it to ready: (latency s, POST ms, polls, reply)."""
    start = now()
    reply = post_article(server, listen_body(text, index, settings))
    posted = now()
    if reply.get("status") == "ready":
        raise RuntimeError(f"article {index} was already cached; the latency would not be cold")
    polls = wait_ready(server, reply)
    return now() - start, (posted - start) * 1000, polls, reply


def measure_cold(
    server: Server, settings: Settings, articles: int, work: Path
) -> tuple[ColdResult, str]:
    """Warm up, then alternate project and reference; also returns the warm-up's audio URL."""
    log("  warm-up (untimed)")
    text, path = write_article(WARMUP_INDEX, work)
    _, _, _, warm = listen_once(server, text, WARMUP_INDEX, settings)
    run_reference(path, settings, work / "reference-warmup.mp3")
    result = ColdResult()
    for index in range(1, articles + 1):
        text, path = write_article(index, work)
        latency, post_ms, polls, _ = listen_once(server, text, index, settings)
        result.project_s.append(latency)
        result.post_ms.append(post_ms)
        result.polls.append(polls)
        ref = run_reference(path, settings, work / f"reference-{index}.mp3")
        result.reference_s.append(ref.wall_s)
        log(f"  article {index}: project {latency:.3f} s, reference {ref.wall_s:.3f} s")
    return result, path_of(warm["audio_url"])


# ── 2. cached audio ──────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    key: str
    headers: dict[str, str]
    status: int
    length: int


def audio_variants(total: int) -> list[Variant]:
    variants = [
        Variant("whole", "whole", {}, 200, total),
        Variant("bytes=0-65535", "range_head", {"Range": "bytes=0-65535"}, 206, min(total, 65536)),
    ]
    if total > 100_000:
        tail = Variant(
            "bytes=100000-", "range_tail", {"Range": "bytes=100000-"}, 206, total - 100_000
        )
        variants.append(tail)
    return variants


def get_loop(
    server: Server, path: str, variant: Variant, count: int, start: threading.Barrier | None = None
) -> tuple[list[float], int]:
    """``count`` GETs on one persistent connection: per-request seconds and reconnections."""
    conn = server.connect()
    times: list[float] = []
    reconnects = 0
    try:
        if start is not None:
            start.wait()
        for _ in range(count):
            if conn.sock is None and times:
                reconnects += 1
            t0 = now()
            conn.request("GET", path, headers=variant.headers)
            resp = conn.getresponse()
            body = resp.read()
            times.append(now() - t0)
            if resp.status != variant.status or len(body) != variant.length:
                raise RuntimeError(
                    f"GET {path} {variant.headers}: {resp.status}, {len(body)} bytes; "
                    f"expected {variant.status}, {variant.length}"
                )
    finally:
        conn.close()
    return times, reconnects


def measure_audio(
    server: Server, audio_url: str, requests: int, threads: int, per_thread: int
) -> dict[str, Any]:
    status, headers, _ = server.call("HEAD", audio_url)
    if status != 200:
        raise RuntimeError(f"HEAD {audio_url} answered {status}")
    total = int({k.lower(): v for k, v in headers.items()}["content-length"])
    out: dict[str, Any] = {"bytes": total}
    for variant in audio_variants(total):
        get_loop(server, audio_url, variant, min(20, requests))  # warm the connection path
        started = now()
        times, reconnects = get_loop(server, audio_url, variant, requests)
        sequential_wall = now() - started
        barrier = threading.Barrier(threads + 1)
        with ThreadPoolExecutor(threads) as pool:
            futures = [
                pool.submit(get_loop, server, audio_url, variant, per_thread, barrier)
                for _ in range(threads)
            ]
            barrier.wait()
            started = now()
            results = [f.result() for f in futures]
            concurrent_wall = now() - started
        concurrent_times = [t for ts, _ in results for t in ts]
        out[variant.key] = {
            "range": variant.headers.get("Range"),
            "status": variant.status,
            "body_bytes": variant.length,
            "sequential_ms": summary(times, 1000, 2),
            "sequential_req_s": round(len(times) / sequential_wall, 1),
            "sequential_reconnects": reconnects,
            "concurrent_threads": threads,
            "concurrent_requests": len(concurrent_times),
            "concurrent_ms": summary(concurrent_times, 1000, 2),
            "concurrent_req_s": round(len(concurrent_times) / concurrent_wall, 1),
            "concurrent_reconnects": sum(r for _, r in results),
        }
        log(
            f"  {variant.name}: p50 {out[variant.key]['sequential_ms']['p50']} ms, "
            f"{out[variant.key]['concurrent_req_s']} req/s with {threads} threads"
        )
    return out


# ── 3. burst ─────────────────────────────────────────────────────────────


def measure_single(settings: Settings, burst: int, runs: int, work: Path) -> dict[str, Any]:
    """The project's single-process CLI pipeline on ``runs`` of the burst's articles."""
    walls: list[float] = []
    cpus: list[float] = []
    step = max(burst // runs, 1)
    for i in range(runs):
        index = BURST_FIRST_INDEX + (i * step) % burst
        _, path = write_article(index, work)
        run = run_project(path, settings, work, keep=False)
        walls.append(run.wall_s)
        cpus.append(run.cpu_s)
        log(f"  single-process synth of article {index}: {run.wall_s:.3f} s")
    per_article = median(walls)
    cpu = median(cpus)
    return {
        "runs": len(walls),
        "wall_s": summary(walls),
        "cpu_median_s": round(cpu, 3),
        # If the work were purely CPU-bound, no more than this could finish per second.
        "cpu_bound_ceiling_per_s": round((os.cpu_count() or 1) / cpu, 4),
        "throughput_per_s": round(1 / per_article, 4),
        "runs_s": [round(v, 3) for v in walls],
    }


def measure_burst(
    server: Server, settings: Settings, burst: int, clients: int, worker: Proc
) -> dict[str, Any]:
    texts = [(BURST_FIRST_INDEX + i, article(BURST_FIRST_INDEX + i)) for i in range(burst)]
    errors: list[str] = []
    post_ms: list[float] = []
    lock = threading.Lock()

    def post(item: tuple[int, str]) -> dict[str, Any] | None:
        index, text = item
        t0 = now()
        try:
            reply = post_article(server, listen_body(text, index, settings))
        except (OSError, http.client.HTTPException, RuntimeError) as exc:
            with lock:
                errors.append(f"POST article {index}: {exc}")
            return None
        with lock:
            post_ms.append((now() - t0) * 1000)
        return reply

    cpu_before = group_cpu_s(worker.popen.pid)
    started = now()
    with ThreadPoolExecutor(clients) as pool:
        replies = list(pool.map(post, texts))
    posted = now() - started
    log(f"  {burst} POSTs in {posted:.2f} s; waiting for the jobs")
    already_ready = 0
    for reply in replies:
        if reply is None:
            continue
        already_ready += reply.get("status") == "ready"
        try:
            wait_ready(server, reply)
        except (OSError, http.client.HTTPException, RuntimeError) as exc:
            errors.append(str(exc))
    elapsed = now() - started
    worker_cpu = group_cpu_s(worker.popen.pid) - cpu_before
    done = burst - len(errors)
    return {
        "articles": burst,
        "clients": clients,
        "worker_concurrency": BURST_WORKERS,
        "post_phase_s": round(posted, 3),
        "post_ms": summary(post_ms, digits=1) if post_ms else None,
        "total_s": round(elapsed, 3),
        "throughput_per_s": round(done / elapsed, 4),
        "ready_at_post": already_ready,
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_per_article_s": round(worker_cpu / burst, 3),
        "errors": len(errors),
        "error_samples": errors[:5],
    }


# ── modes ────────────────────────────────────────────────────────────────


@contextmanager
def running(procs: list[Proc]) -> Iterator[list[Proc]]:
    """Stops every process in ``procs`` (as it is when leaving) however the block ends."""
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            proc.stop()


def start_embedded(work: Path, env: Mapping[str, str]) -> tuple[Proc, Server]:
    proc = spawn("embedded-serve", ["serve", "--port", "0", "--concurrency", "1"], env, work)
    match = wait_for_log(proc, r"Listen is running at http://([0-9.]+):([0-9]+)/")
    return proc, Server(match.group(1), int(match.group(2)))


def start_worker(work: Path, env: Mapping[str, str], concurrency: int) -> Proc:
    name = f"redis-worker-c{concurrency}"
    proc = spawn(name, ["worker", "--concurrency", str(concurrency)], env, work)
    wait_for_log(proc, re.escape(" ready."))
    return proc


def run_embedded(args: argparse.Namespace, settings: Settings, work: Path) -> dict[str, Any]:
    log("embedded: listen-service serve")
    mode_dir = work / "embedded"
    mode_dir.mkdir()
    env = service_env(mode_dir / "data", None)
    out: dict[str, Any] = {"web": "werkzeug (listen-service serve)", "worker_concurrency": 1}
    with running([]) as procs:
        proc, server = start_embedded(mode_dir, env)
        procs.append(proc)
        wait_healthy(server, procs)
        cold, audio_url = measure_cold(server, settings, args.articles, mode_dir)
        out["cold"] = cold.as_dict()
        if not args.skip_audio:
            log("embedded: cached audio (werkzeug)")
            out["audio"] = measure_audio(
                server, audio_url, args.requests, args.threads, args.per_thread
            )
    return out


def run_redis(args: argparse.Namespace, settings: Settings, work: Path) -> dict[str, Any]:
    client = redis.Redis.from_url(args.redis_url)
    client.ping()
    client.flushdb()
    try:
        return _run_redis(args, settings, work)
    finally:
        client.flushdb()


def _run_redis(args: argparse.Namespace, settings: Settings, work: Path) -> dict[str, Any]:
    log(f"redis: listen-service web (gunicorn, {args.web_workers} workers) + worker")
    mode_dir = work / "redis"
    mode_dir.mkdir()
    env = service_env(mode_dir / "data", args.redis_url)
    port = free_port()
    out: dict[str, Any] = {
        "web": f"gunicorn gthread, {args.web_workers} workers x 8 threads",
        "worker_concurrency": 1,
    }
    bind = f"127.0.0.1:{port}"
    with running([]) as procs:
        procs.append(
            spawn(
                "redis-web",
                ["web", "--bind", bind, "--workers", str(args.web_workers)],
                env,
                mode_dir,
            )
        )
        procs.append(start_worker(mode_dir, env, 1))
        server = Server("127.0.0.1", port)
        wait_healthy(server, procs)
        cold, audio_url = measure_cold(server, settings, args.articles, mode_dir)
        out["cold"] = cold.as_dict()
        if not args.skip_audio:
            log("redis: cached audio (gunicorn)")
            out["audio"] = measure_audio(
                server, audio_url, args.requests, args.threads, args.per_thread
            )
        if not args.skip_burst:
            procs.pop().stop()
            log("redis: single-process pipeline (listen_service.cli synth, cold cache)")
            out["single_process"] = measure_single(settings, args.burst, args.single_runs, mode_dir)
            procs.append(start_worker(mode_dir, env, BURST_WORKERS))
            log(f"redis: burst of {args.burst} articles, worker --concurrency {BURST_WORKERS}")
            out["burst"] = measure_burst(server, settings, args.burst, args.clients, procs[-1])
    return out


# ── report ───────────────────────────────────────────────────────────────


def targets(modes: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for mode, figures in modes.items():
        cold = figures["cold"]
        limit = COLD_LIMIT_S[mode]
        met[f"{mode}_cold_p50_le_reference_plus_{limit * 1000:g}_ms"] = (
            cold["p50_difference_s"] <= limit
        )
    redis_figures = modes.get("redis", {})
    for key, row in (redis_figures.get("audio") or {}).items():
        if isinstance(row, dict):
            met[f"redis_audio_{key}_p50_le_{AUDIO_P50_LIMIT_MS:g}_ms"] = (
                row["sequential_ms"]["p50"] <= AUDIO_P50_LIMIT_MS
            )
    if "burst" in redis_figures:
        burst, single = redis_figures["burst"], redis_figures["single_process"]
        goal = BURST_FRACTION * BURST_WORKERS * single["throughput_per_s"]
        met[f"burst_throughput_ge_{BURST_FRACTION:g}x{BURST_WORKERS}x_single"] = (
            burst["throughput_per_s"] >= goal
        )
        met["burst_errors_eq_0"] = burst["errors"] == 0
    return met


def print_cold(modes: Mapping[str, Mapping[str, Any]]) -> None:
    print("Cold Listen latency (POST → ready, sequential), seconds")
    head = (
        f"{'mode':<9} {'n':>3} {'proj p50':>9} {'proj p95':>9} {'ref p50':>8} {'ref p95':>8} "
        f"{'Δp50':>7} {'limit':>6} {'POST ms':>8}"
    )
    print(head)
    print("-" * len(head))
    for mode, figures in modes.items():
        c = figures["cold"]
        print(
            f"{mode:<9} {c['articles']:>3} {c['project_s']['p50']:>9.3f} "
            f"{c['project_s']['p95']:>9.3f} {c['reference_s']['p50']:>8.3f} "
            f"{c['reference_s']['p95']:>8.3f} {c['p50_difference_s']:>+7.3f} "
            f"{COLD_LIMIT_S[mode]:>6.3f} {c['post_ms']['p50']:>8.1f}"
        )


def print_audio(modes: Mapping[str, Mapping[str, Any]]) -> None:
    rows = [(m, f) for m, f in modes.items() if "audio" in f]
    if not rows:
        return
    print()
    print("Cached audio GET /audio/<id>.mp3 (sequential: one keep-alive connection; ")
    print("concurrent: one keep-alive connection per thread), ms")
    head = (
        f"{'server':<9} {'variant':<14} {'bytes':>8} {'p50':>7} {'p95':>7} {'req/s':>7} "
        f"{'thr':>3} {'c p50':>7} {'c p95':>7} {'c req/s':>8}"
    )
    print(head)
    print("-" * len(head))
    for mode, figures in rows:
        label = "gunicorn" if mode == "redis" else "werkzeug"
        for key, row in figures["audio"].items():
            if not isinstance(row, dict):
                continue
            s, c = row["sequential_ms"], row["concurrent_ms"]
            name = row["range"] or key
            print(
                f"{label:<9} {name:<14} {row['body_bytes']:>8} {s['p50']:>7.2f} {s['p95']:>7.2f} "
                f"{row['sequential_req_s']:>7.1f} {row['concurrent_threads']:>3} "
                f"{c['p50']:>7.2f} {c['p95']:>7.2f} {row['concurrent_req_s']:>8.1f}"
            )


def print_burst(figures: Mapping[str, Any]) -> None:
    if "burst" not in figures:
        return
    burst, single = figures["burst"], figures["single_process"]
    goal = BURST_FRACTION * BURST_WORKERS * single["throughput_per_s"]
    print()
    print(f"Burst (redis, worker --concurrency {BURST_WORKERS}, {burst['clients']} clients)")
    print(
        f"  {burst['articles']} articles: POSTs done in {burst['post_phase_s']:.2f} s, "
        f"all ready in {burst['total_s']:.2f} s → {burst['throughput_per_s']:.3f} articles/s; "
        f"errors {burst['errors']}"
    )
    cpu = burst["worker_cpu_per_article_s"]
    print(f"  worker CPU (pool processes and their ffmpeg): {cpu:.3f} s/article")
    print(
        f"  single-process CLI pipeline: median {single['wall_s']['p50']:.3f} s/article "
        f"(CPU {single['cpu_median_s']:.3f} s) → {single['throughput_per_s']:.3f} articles/s"
    )
    print(
        f"  CPU-bound ceiling on {os.cpu_count()} CPUs: "
        f"{single['cpu_bound_ceiling_per_s']:.3f} articles/s"
    )
    print(
        f"  ratio to {BURST_WORKERS} x single: "
        f"{burst['throughput_per_s'] / (BURST_WORKERS * single['throughput_per_s']):.2f} "
        f"(goal ≥ {BURST_FRACTION:g}, i.e. ≥ {goal:.3f} articles/s)"
    )


def report(
    modes: dict[str, dict[str, Any]], args: argparse.Namespace, settings: Settings
) -> dict[str, Any]:
    print_cold(modes)
    print_audio(modes)
    if "redis" in modes:
        print_burst(modes["redis"])
    met = targets(modes)
    print()
    for name, ok in met.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return {
        "benchmark": "service",
        "date": utc_now(),
        "settings": {
            "modes": list(modes),
            "articles": args.articles,
            "article_words": 500,
            "burst": args.burst,
            "clients": args.clients,
            "requests": args.requests,
            "threads": args.threads,
            "per_thread": args.per_thread,
            "single_runs": args.single_runs,
            "web_workers": args.web_workers,
            "redis_url": args.redis_url,
            "rate": settings.rate,
            "voice": settings.voice,
            "reference_voice": settings.reference_voice,
            "bitrate_kbps": settings.bitrate,
            "long_poll_wait_s": WAIT_S,
        },
        "modes": modes,
        "targets": met,
        "machine": machine_info(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.service", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--mode", choices=["embedded", "redis", "both"], default="both")
    parser.add_argument("--articles", type=int, default=20, help="timed cold articles per mode")
    parser.add_argument("--burst", type=int, default=100, help="articles in the burst")
    parser.add_argument("--clients", type=int, default=16, help="threads posting the burst")
    parser.add_argument("--requests", type=int, default=500, help="cached GETs per variant")
    parser.add_argument("--threads", type=int, default=4, help="client threads for req/s")
    parser.add_argument("--per-thread", type=int, default=250, help="GETs per client thread")
    parser.add_argument(
        "--single-runs", type=int, default=5, help="single-process CLI runs for the burst goal"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (redis)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9", help="FLUSHed!")
    parser.add_argument("--skip-audio", action="store_true", help="skip the cached-audio GETs")
    parser.add_argument("--skip-burst", action="store_true", help="skip the burst (redis)")
    parser.add_argument("--rate", type=int, default=175, help="words per minute (default 175)")
    parser.add_argument("--voice", default="gmw/en", help="project voice id (default gmw/en)")
    parser.add_argument("--reference-voice", default="en", help="espeak-ng -v for the same voice")
    parser.add_argument("--bitrate", type=int, default=64, help="MP3 kbit/s (default 64)")
    parser.add_argument("--keep", action="store_true", help="keep texts, outputs and logs")
    args = parser.parse_args(argv)
    counts = (args.articles, args.burst, args.clients, args.requests, args.threads, args.per_thread)
    if min(counts) < 1:
        parser.error("counts must be at least 1")
    if args.single_runs < 1:
        parser.error("--single-runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # So that a plain `kill` still runs the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = Settings(args.rate, args.voice, args.reference_voice, args.bitrate)
    work = Path(tempfile.mkdtemp(prefix="listen-bench-service-"))
    runners: dict[str, Callable[[argparse.Namespace, Settings, Path], dict[str, Any]]] = {
        "embedded": run_embedded,
        "redis": run_redis,
    }
    chosen = list(runners) if args.mode == "both" else [args.mode]
    load_start = os.getloadavg()
    ok = False
    try:
        modes = {mode: runners[mode](args, settings, work) for mode in chosen}
        figures = report(modes, args, settings)
        ok = True
    finally:
        if args.keep or not ok:
            log(f"texts, outputs and process logs are in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures["load_average"] = {"start": load_start, "end": os.getloadavg()}
    print(json.dumps(figures, ensure_ascii=False))
    burst = modes.get("redis", {}).get("burst")
    return 1 if burst and burst["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
