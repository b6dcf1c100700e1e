"""Small filesystem primitives for the store: atomic writes, fsync, locks, hashing.

POSIX only (``fcntl``), which is what the service is deployed on.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"

_CHUNK = 1 << 20

# Filesystems that cannot lock at all; the store then runs lock-free, which is
# still safe for readers (every file is replaced atomically), see store.py.
_NO_LOCK_ERRNOS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL})


def sha256_of(f: BinaryIO) -> tuple[str, int]:
    """Hash an open binary file from its current position; return (hex digest, byte count)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := f.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def fsync_dir(path: Path) -> None:
    """Make renames and unlinks inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_temp(directory: Path, suffix: str) -> Path:
    """Create an empty, uniquely named ``.tmp-*`` file in ``directory`` and return its path."""
    fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=directory)
    # mkstemp makes 0600 files; cached audio is public, and a front server
    # (nginx with X-Accel-Redirect) running as another user must read it.
    os.fchmod(fd, 0o644)
    os.close(fd)
    return Path(name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a temp file in the same directory, are fsynced, then
    ``os.replace``d over ``path``. The caller fsyncs the directory.
    """
    tmp = make_temp(path.parent, path.suffix)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def unlink_quiet(path: Path) -> bool:
    """Remove ``path`` if it exists; True if this call removed it."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def dir_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (via its ``.lock`` file) across processes.

    ``flock`` is emulated with POSIX record locks on Linux NFS, so this also
    serialises writers on different machines sharing the directory. The lock
    file is never deleted: deleting lock files is how lock protocols break.
    """
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in _NO_LOCK_ERRNOS:
                raise
        yield
    finally:
        os.close(fd)  # closing releases the lock
