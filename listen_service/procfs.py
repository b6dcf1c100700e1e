"""What ``/proc`` says about a process: alive, its parent, its start time (Linux only)."""

from __future__ import annotations

from functools import cache
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields 3… of ``/proc/<pid>/stat`` (after the command name, which may hold spaces)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Whether ``pid`` is running (a zombie has exited; only its parent's wait() is missing)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


@cache
def _boot() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]


def identity(pid: int) -> str | None:
    """``<pid>-<start time>-<boot>``: names one process, even after a reboot reuses its pid."""
    fields = _stat(pid)
    return f"{pid}-{fields[19]}-{_boot()}" if fields else None


def is_worker_of(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a Celery worker (``workers.celery_app``) of ``data_dir``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours to read: either way not ours to stop
        return False
    return (
        b"celery" in cmdline
        and b"workers.celery_app" in cmdline
        and b"worker" in cmdline
        and f"LISTEN_DATA_DIR={data_dir}".encode() in environ
    )
