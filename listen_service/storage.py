"""Disk space under the data directory, as the web side sees it.

The web side refuses new work (``507`` with ``Retry-After``) and ``/healthz``
reports unhealthy while the free space is below ``LISTEN_MIN_FREE_BYTES``, so
that a nearly full disk is met before a write fails half-way; a write that
fails anyway (``ENOSPC``) is answered the same way by ``errors``. Nothing is
remembered: once space is freed (``cache prune``, files removed) the next
request goes through.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

from flask import current_app

from listen_service.errors import insufficient_storage


def free_bytes(config: Mapping[str, Any]) -> int:
    """Bytes free for this process on the data directory's filesystem."""
    return shutil.disk_usage(config["LISTEN_DATA_DIR"]).free


def shortage(config: Mapping[str, Any]) -> str | None:
    """Why the data directory is too full for new work, or None if it is not."""
    floor: int = config["LISTEN_MIN_FREE_BYTES"]
    free = free_bytes(config)
    if free >= floor:
        return None
    return f"{free} bytes free on the data directory's disk, below LISTEN_MIN_FREE_BYTES={floor}"


def require_free_space() -> None:
    """Raise the ``507`` ``ApiError`` when there is too little space for a new job."""
    problem = shortage(current_app.config)
    if problem is not None:
        current_app.logger.error("refusing new work: %s", problem)
        raise insufficient_storage()
