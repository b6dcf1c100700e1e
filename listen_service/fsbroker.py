"""The embedded broker: kombu's filesystem transport, made safe around bad files.

kombu's own transport writes a message file in place and its consumer takes
any ``<stamp>_<id>.<queue>.msg`` it finds, so a consumer can read half a file;
and a file that is not a message (empty, cut short, not JSON) raises out of
the worker's consumer loop, on every start, since the file stays. Here:

- a message is written beside the queue as ``.<name>.part`` (a name the
  consumer never takes), flushed to disk, then renamed into place: a consumer
  sees all of it or nothing;
- a consumer claims a file by renaming it into the ``claimed`` folder (atomic
  on one filesystem, so two consumers never both get it), and a file that is
  not a message is moved to the ``quarantine`` folder, logged with the reason,
  and the next file is tried. Quarantined files are kept for the operator;
  ``quarantined()`` counts them for ``/healthz`` and ``/metrics``.

Celery loads ``Transport`` through its ``broker_transport`` setting
(``listen_service.celery``), so the web process that publishes and the worker
that consumes both use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

log = logging.getLogger(__name__)

TRANSPORT = "listen_service.fsbroker:Transport"
PART_SUFFIX = ".part"


def broker_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "broker"


def transport_options(data_dir: Path | str) -> dict[str, Any]:
    """The transport's folders under the data directory, created if missing."""
    root = broker_dir(data_dir)
    folders = {
        "data_folder_in": root / "queue",
        "data_folder_out": root / "queue",
        "control_folder": root / "control",
        "claim_folder": root / "claimed",
        "quarantine_folder": root / "quarantine",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {name: str(folder) for name, folder in folders.items()}


def quarantined(data_dir: Path | str) -> int:
    """How many broker messages have been set aside as unreadable."""
    try:
        with os.scandir(broker_dir(data_dir) / "quarantine") as entries:
            return sum(1 for _ in entries)
    except FileNotFoundError:
        return 0


class Channel(filesystem.Channel):
    """A filesystem channel whose writes are atomic and whose reads survive bad files."""

    @cached_property
    def claim_folder(self) -> Path:
        return self._folder("claim_folder")

    @cached_property
    def quarantine_folder(self) -> Path:
        return self._folder("quarantine_folder")

    def _folder(self, option: str) -> Path:
        folder = Path(self.transport_options[option])
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # kombu's two base classes disagree on this signature; ours is the filesystem one's.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Add a message to ``queue``: whole, or not at all (``ChannelError``)."""
        # The same name as kombu's, so both sort alike.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        part = os.path.join(folder, f".{name}{PART_SUFFIX}")
        try:
            with open(part, "xb") as file:
                file.write(str_to_bytes(dumps(payload)))  # type: ignore[no-untyped-call]
                file.flush()
                # On disk before it is visible: a crash must not leave an
                # empty message behind (a filesystem may order the rename first).
                os.fsync(file.fileno())
            os.rename(part, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise ChannelError(f"cannot add a message to {folder}: {exc}") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """The oldest readable message of ``queue``; unreadable ones are quarantined."""
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = self.claim_folder / name
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer claimed it first
            try:
                payload = loads(bytes_to_str(claimed.read_bytes()))  # type: ignore[no-untyped-call]
                # Building the message is what the consumer does next; a file
                # that fails it here fails alone instead of in the consumer loop.
                self.Message(payload, channel=self)  # type: ignore[no-untyped-call]
            except Exception as exc:  # whatever is wrong, it is wrong with this file only
                self._quarantine(claimed, exc)
                continue
            claimed.unlink()
            return payload
        raise Empty()

    def _quarantine(self, claimed: Path, why: Exception) -> None:
        target = self.quarantine_folder / claimed.name
        reason = f"{type(why).__name__}: {why}"
        try:
            os.replace(claimed, target)
        except OSError as exc:
            # It is out of the queue already, so it will not be read again.
            log.error(
                "unreadable broker message %s (%s) left in %s: %s",
                claimed.name,
                reason,
                claimed.parent,
                exc,
            )
            return
        log.warning(
            "quarantined unreadable broker message %s (%s) as %s", claimed.name, reason, target
        )


class Transport(filesystem.Transport):
    Channel = Channel
    # Our own state, so nothing is shared with a plain "filesystem://" connection.
    global_state = virtual.BrokerState()  # type: ignore[no-untyped-call]
