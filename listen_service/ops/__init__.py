"""What operators look at and use: ``/healthz`` and ``/livez`` (``health``), ``/metrics``
(``metrics``), the worker list (``workers``).

One blueprint; each concern is a module of its own that adds its routes to it.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__)

from listen_service.ops import health, metrics, workers  # noqa: E402  (they register routes on bp)

__all__ = ["bp", "health", "metrics", "workers"]
