"""``GET /api/v1/ops/workers`` (operator only): worker processes alive, and those lately gone."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, jsonify

from listen_service.ops import bp
from listen_service.ops.auth import operator_only
from workers.registry import WorkerRegistry


def worker_list(registry: WorkerRegistry, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every entry not yet pruned, alive ones first, each by node then pid; stale ones
    carry ``"alive": false`` (the shape documented in docs/operations.md)."""
    now = time.time()
    stale_s: float = config["LISTEN_WORKER_STALE_SECONDS"]
    entries = sorted(
        registry.entries(), key=lambda e: (not e.alive(now, stale_s), e.node, e.host, e.pid)
    )
    return [e.as_dict(now, stale_s) for e in entries]


@bp.get("/api/v1/ops/workers")
@operator_only
def workers() -> Response:
    registry = current_app.extensions["listen_workers"]
    return jsonify({"workers": worker_list(registry, current_app.config)})
