"""What operators look at and use: ``/healthz`` and ``/livez`` (``health``), ``/metrics``
(``metrics``), the worker list (``workers``) and the job list and commands under
``/api/v1/ops/jobs`` (``jobs``), and the console at ``/ops`` (``console``) that shows
them all in one page.

One blueprint; each concern is a module of its own that adds its routes to it.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__)

from listen_service.ops import (  # noqa: E402  (they register routes on bp)
    console,
    health,
    jobs,
    metrics,
    workers,
)

__all__ = ["bp", "console", "health", "jobs", "metrics", "workers"]
