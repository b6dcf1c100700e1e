"""Running the service: ``serve`` (all in one), ``web`` (gunicorn), ``worker`` (Celery)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

from werkzeug.serving import WSGIRequestHandler

from listen_service import metricsdir
from listen_service.config import embedded
from listen_service.lanes import WORKER_LANES
from listen_service.supervise import WorkerSupervisor

# serve's worker of the interactive lane alone: one process, always free for a reader.
READERS_CONCURRENCY = 1


# glibc's malloc marks its own mappings for transparent huge pages (where the
# kernel's THP mode is "madvise"; "always" needs no mark, "never" ignores it).
# A Piper worker bounds its memory by handing big blocks back to the kernel
# (workers.neural's mmap threshold); huge pages take most of that bound's time
# cost away at the same peak (docs/benchmarks.md). An operator's own
# glibc.malloc.hugetlb in GLIBC_TUNABLES wins (``=0`` turns this off).
MALLOC_HUGE_PAGES = "glibc.malloc.hugetlb=1"


def worker_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for a Celery worker process: with ``MALLOC_HUGE_PAGES`` among its
    ``GLIBC_TUNABLES`` (read by glibc as a process starts, so set by whoever starts it)."""
    env = dict(environ)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    name = MALLOC_HUGE_PAGES.partition("=")[0]
    if not any(t.partition("=")[0] == name for t in tunables):
        tunables.append(MALLOC_HUGE_PAGES)
    env["GLIBC_TUNABLES"] = ":".join(tunables)
    return env


def worker_command(
    config: Mapping[str, Any],
    concurrency: int,
    loglevel: str,
    lanes: str = "all",
    node: str | None = None,
) -> list[str]:
    """A Celery worker of ``lanes`` (``lanes.WORKER_LANES``); ``node`` names it
    (``<node>@<host>``), for two workers on one machine."""
    cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker"]
    cmd += ["--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", loglevel]
    # In this order: a worker of both lanes looks at the interactive one first.
    cmd += ["-Q", ",".join(WORKER_LANES[lanes])]
    if node is not None:
        cmd += ["-n", f"{node}@%h"]
    if embedded(config):
        # Mingle, gossip and heartbeats are broadcasts between workers; the
        # embedded broker serves one machine and has no fan-out for them.
        cmd += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    return cmd


def hash_secrets_in_env(settings: Mapping[str, Any]) -> None:
    """Hand the processes we start the sites' secret keys as their digests only
    (``LISTEN_SITE_ADMIN_TOKENS`` as ``config.to_env`` writes it), never the keys."""
    from listen_service.config import to_env

    if os.environ.get("LISTEN_SITE_ADMIN_TOKENS"):
        os.environ["LISTEN_SITE_ADMIN_TOKENS"] = to_env(settings)["LISTEN_SITE_ADMIN_TOKENS"]


def exec_worker(concurrency: int, loglevel: str, lanes: str = "all") -> NoReturn:
    from listen_service import config

    settings = config.load()
    hash_secrets_in_env(settings)
    cmd = worker_command(settings, concurrency, loglevel, lanes)
    os.execve(sys.executable, cmd, worker_env(os.environ))


# Threads of each gunicorn worker kept for everything but streams and long polls.
FREE_WEB_THREADS = 4


def web_stream_bound(config: Mapping[str, Any], threads: int) -> int:
    """``LISTEN_STREAMS_PER_PROCESS``, lowered to leave ``FREE_WEB_THREADS`` for the rest."""
    wanted: int = config["LISTEN_STREAMS_PER_PROCESS"]
    return max(1, min(wanted, threads - FREE_WEB_THREADS))


def exec_web(bind: str, workers: int, threads: int) -> NoReturn:
    from listen_service import config

    settings = config.load()
    hash_secrets_in_env(settings)
    # gunicorn's processes count in files of one directory that /metrics adds up;
    # our pid is gunicorn's master's (execv keeps it), which names the directory.
    metricsdir.claim(settings, "web")
    bound = web_stream_bound(settings, threads)
    if bound != settings["LISTEN_STREAMS_PER_PROCESS"]:
        print(
            f"listen-service: LISTEN_STREAMS_PER_PROCESS lowered to {bound} so that "
            f"{threads} threads per worker leave {FREE_WEB_THREADS} for other requests",
            file=sys.stderr,
        )
        os.environ["LISTEN_STREAMS_PER_PROCESS"] = str(bound)
    cmd = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers)]
    # Threads, so that long polls and event streams do not hold a whole worker;
    # how many of them streams may take is bounded by LISTEN_STREAMS_PER_PROCESS.
    cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    cmd += ["--config", "python:listen_service.gunicorn_conf"]
    cmd += ["--access-logfile", "-", "listen_service.wsgi:app"]
    os.execv(sys.executable, cmd)


class _KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections open between requests (players fetch audio
    # in many range requests); werkzeug's default closes after each one.
    protocol_version = "HTTP/1.1"


def serve(host: str, port: int, concurrency: int | None, loglevel: str) -> int:
    """The web app and two supervised Celery workers on this machine, until Ctrl-C or SIGTERM:
    one of the interactive lane alone (``READERS_CONCURRENCY`` processes), so that
    a reader never waits for a process busy with bulk work, and one of both lanes
    with ``concurrency`` processes (default: one per CPU).

    Exits 1 without starting a worker when the address cannot be bound.
    """
    from werkzeug.serving import make_server

    from listen_service import create_app

    # One deployment, one scrape: the web's /metrics reads its workers' files,
    # and two workers could not share one port anyway.
    os.environ["LISTEN_WORKER_METRICS_PORT"] = "0"
    app = create_app()
    hash_secrets_in_env(app.config)
    # Bound here, not by make_server: werkzeug reports a busy port itself and
    # calls sys.exit, which would skip our message and bypass the caller.
    try:
        listener = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=128
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"listen-service: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    with listener:  # make_server listens on a duplicate of it
        server = make_server(
            host,
            port,
            app,
            threaded=True,
            request_handler=_KeepAliveHandler,
            fd=listener.fileno(),
        )
    data_dir = app.config["LISTEN_DATA_DIR"]
    general = worker_command(app.config, concurrency or os.cpu_count() or 1, loglevel)
    readers = worker_command(
        app.config, READERS_CONCURRENCY, loglevel, "interactive", node="readers"
    )
    env = worker_env(os.environ)
    workers = [
        WorkerSupervisor(general, env, data_dir),
        WorkerSupervisor(readers, env, data_dir, name="readers"),
    ]

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    # Explicitly, because a shell starting us in the background ignores SIGINT.
    signal.signal(signal.SIGINT, stop)
    mode = (
        "embedded broker"
        if not app.config["LISTEN_BROKER_URL"]
        else "broker from LISTEN_BROKER_URL"
    )
    try:
        for worker in workers:
            worker.start()
        url = f"http://{host if host not in ('0.0.0.0', '::') else 'localhost'}:{server.port}/"
        print(f"Listen is running at {url}", flush=True)
        print(f"  data in {data_dir} ({mode}); Ctrl-C to stop", flush=True)
        server.serve_forever()
    finally:
        server.server_close()
        WorkerSupervisor.stop_all(workers)
    return 0
