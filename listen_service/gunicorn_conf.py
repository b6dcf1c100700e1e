"""gunicorn settings of ``listen-service web``: ``--config python:listen_service.gunicorn_conf``."""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    """A web process ended: drop its share of the live gauges (its counters still count)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
