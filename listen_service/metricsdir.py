"""Where prometheus_client's multiprocess files live: one directory per process group.

A web (gunicorn master and its workers) or a Celery worker (main process and
its pool) is a *process group*: its processes write their counters and
histograms to ``<LISTEN_METRICS_DIR>/<role>-<host>-<pid>/`` (``pid`` of the
group's first process), and ``/metrics`` adds the files up. Host and pid in
the name keep groups apart on a data directory several containers share,
and make the directory of a group that died recognisable: a new group on the
same host removes those. This module does not import prometheus_client:
``claim`` must set ``PROMETHEUS_MULTIPROC_DIR`` before that is imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"


def root(config: Mapping[str, Any]) -> Path:
    """``LISTEN_METRICS_DIR``, by default a folder in RAM (``/dev/shm``) named after the data dir.

    Not on the data directory's disk: prometheus_client maps its files into
    memory and grows them as metrics appear, and a process that grows a mapped
    file on a full disk dies of SIGBUS (measured: a worker, in the disk-full
    tests). A full data disk must cost jobs, never workers. Where ``/dev/shm``
    is not writable, the system's temp directory. Every process of one
    deployment on a host computes the same folder from the same data dir.
    """
    chosen: str = config["LISTEN_METRICS_DIR"]
    if chosen:
        return Path(chosen).expanduser()
    data = str(Path(config["LISTEN_DATA_DIR"]).expanduser().resolve())
    name = "listen-metrics-" + hashlib.sha256(data.encode()).hexdigest()[:16]
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return base / name


def _host() -> str:
    # '-' separates the name's parts; a host name may contain one.
    return socket.gethostname().replace("-", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _parts(folder: Path) -> tuple[str, str, int] | None:
    role, _, rest = folder.name.partition("-")
    host, _, pid = rest.rpartition("-")
    return (role, host, int(pid)) if host and pid.isdigit() else None


def groups(config: Mapping[str, Any], roles: Iterable[str]) -> list[Path]:
    """Directories of this host's process groups of ``roles``, dead ones included
    (their counters still count until a new group on this host clears them)."""
    wanted, host = set(roles), _host()
    found = []
    for folder in sorted(root(config).glob("*-*-*")):
        parts = _parts(folder)
        if parts is not None and parts[0] in wanted and parts[1] == host:
            found.append(folder)
    return found


def claim(config: Mapping[str, Any], role: str) -> Path:
    """Make this process's group directory, empty, and point ``PROMETHEUS_MULTIPROC_DIR``
    at it (inherited by the processes it starts or forks); remove this host's
    directories of groups whose first process is gone."""
    host = _host()
    for folder in groups(config, ("web", "worker")):
        parts = _parts(folder)
        if parts is not None and parts[1] == host and not _alive(parts[2]):
            shutil.rmtree(folder, ignore_errors=True)
    mine = root(config) / f"{role}-{host}-{os.getpid()}"
    # A directory with our pid on our host is a previous holder's of this pid.
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir(parents=True)
    os.environ[ENV] = str(mine)
    return mine


def own() -> Path | None:
    """This process group's directory, if it has one (``PROMETHEUS_MULTIPROC_DIR``)."""
    chosen = os.environ.get(ENV)
    return Path(chosen) if chosen else None
