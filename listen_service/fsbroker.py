"""The embedded broker: kombu's filesystem transport, made safe around bad files.

kombu's own transport writes a message file in place and its consumer takes
any ``<stamp>_<uuid>.<queue>.msg`` it finds, so a consumer can read half a file;
and a file that is not a message (empty, cut short, not JSON) raises out of
the worker's consumer loop, on every start, since the file stays. Here:

- a message is written beside the queue as ``.<name>.part`` (a name the
  consumer never takes), flushed to disk, then renamed into place: a consumer
  sees all of it or nothing (a part its publisher died writing is removed
  once it is ``PART_MAX_AGE`` old);
- a consumer claims a file by renaming it into its own folder under
  ``claimed/`` (atomic on one filesystem, so two consumers never both get it),
  and a file that is not a message is moved to the ``quarantine`` folder,
  logged with the reason, and the next file is tried. Quarantined files are
  kept for the operator; ``quarantined()`` counts them for ``/healthz`` and
  ``/metrics``. An unreadable exchange routing table (``control/``) is
  quarantined too, and rebuilt from the bindings the process declared;
- a claimed message stays on disk until it is acknowledged (or handed back),
  and a consumer returns to the queue the claims of consumers that are gone
  (``kill -9``, power cut), so a message taken but never finished is
  delivered again instead of lost with the process that held it;
- a message's file is named ``<stamp>_<uuid>_<task id>.<queue>.msg``: still
  ordered by name and taken by kombu's test of a name, and a task's messages
  are found by listing folders, without reading a message (``task_id_of``).

Celery loads ``Transport`` through its ``broker_transport`` setting
(``listen_service.celery``), so the web process that publishes and the worker
that consumes both use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
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

from listen_service.procfs import identity

log = logging.getLogger(__name__)

TRANSPORT = "listen_service.fsbroker:Transport"
PART_SUFFIX = ".part"
PART_MAX_AGE = 600.0  # seconds
# A message ``move_message`` holds while it rewrites it; returned to the queue
# if its mover died (no move takes MOVE_MAX_AGE).
MOVING_SUFFIX = ".moving"
MOVE_MAX_AGE = 600.0  # seconds
# Task ids that may go into a file name: Celery's uuids and our 64-hex job ids.
# No "." (it starts the queue's part of a name) and no "_" (it separates ours).
_NAMEABLE_ID = re.compile(r"[0-9A-Za-z-]{1,128}")


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


def message_files(folder: Path | str, queue: str) -> list[str]:
    """The names of ``queue``'s message files in ``folder``, oldest first.

    kombu's own test of a name: what follows its first dot names the queue
    (so a part, which starts with a dot, is never one).
    """
    wanted = f"{queue}.msg"
    return sorted(name for name in os.listdir(folder) if name.partition(".")[2] == wanted)


def moving_files(folder: Path | str, queue: str) -> list[str]:
    """The names ``queue``'s messages had before ``move_message`` took them to move them."""
    wanted = f"{queue}.msg"
    names = (
        name[1 : -len(MOVING_SUFFIX)]
        for name in os.listdir(folder)
        if name.startswith(".") and name.endswith(MOVING_SUFFIX)
    )
    return sorted(name for name in names if name.partition(".")[2] == wanted)


_stamps = threading.Lock()
_last_stamp = [0, 0]  # the last millisecond stamped, and how many names had it


def message_name(queue: str, task_id: object) -> str:
    """A new message file's name; ``task_id`` is in it when it is a string fit for a name."""
    # Stamp first, as kombu's own names, so both sort alike; then a count
    # within the millisecond, so that this process's messages of one
    # millisecond are taken in the order they were put.
    with _stamps:
        stamp = round(monotonic() * 1000)
        count = _last_stamp[1] + 1 if stamp == _last_stamp[0] else 0
        _last_stamp[:] = [stamp, count]
    name = f"{stamp}_{count:06d}-{uuid.uuid4()}"
    if isinstance(task_id, str) and _NAMEABLE_ID.fullmatch(task_id):
        name += f"_{task_id}"
    return f"{name}.{queue}.msg"


def task_id_of(name: str) -> str | None:
    """The task id a message file's name carries (``None`` for kombu's own names)."""
    parts = name.partition(".")[0].split("_")
    return parts[2] if len(parts) == 3 else None


def write_message(folder: Path | str, queue: str, payload: Any) -> None:
    """Add a message to ``queue`` in ``folder``: whole, or not at all (``OSError``)."""
    headers = payload.get("headers") if isinstance(payload, dict) else None
    name = message_name(queue, headers.get("id") if isinstance(headers, dict) else None)
    part = os.path.join(folder, f".{name}{PART_SUFFIX}")
    try:
        with open(part, "xb") as file:
            file.write(str_to_bytes(dumps(payload)))  # type: ignore[no-untyped-call]
            file.flush()
            # On disk before it is visible: a crash must not leave an
            # empty message behind (a filesystem may order the rename first).
            os.fsync(file.fileno())
        os.rename(part, os.path.join(folder, name))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


def move_message(folder: Path, name: str, queue: str) -> bool:
    """Move message file ``name`` in ``folder`` to the back of ``queue``; False if it
    was gone (taken by a consumer, or moved by a concurrent call: one of them wins).

    Its routing key is rewritten, so that a retry or a restore stays in ``queue``.
    While it is rewritten it is named by ``moving_files``, so that those who
    look for waiting jobs still see it; a consumer's tidy-up returns it to its
    queue if this process dies meanwhile.
    """
    taken = folder / f".{name}{MOVING_SUFFIX}"
    try:
        os.rename(folder / name, taken)  # the atomic step: only one caller gets it
    except FileNotFoundError:
        return False
    try:
        payload = loads(bytes_to_str(taken.read_bytes()))  # type: ignore[no-untyped-call]
        payload["properties"]["delivery_info"]["routing_key"] = queue
    except (ValueError, TypeError, KeyError):  # not a message: left for a consumer to quarantine
        os.rename(taken, folder / name)
        return False
    try:
        write_message(folder, queue, payload)
    except OSError:  # a full disk: not moved after all
        os.rename(taken, folder / name)
        raise
    taken.unlink()
    return True


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
        """This process's claims (named by ``procfs.identity``, never reused)."""
        root = self._folder("claim_folder")
        self._return_orphaned_claims(root)
        self._remove_abandoned_parts()
        folder = root / str(identity(os.getpid()))
        folder.mkdir(exist_ok=True)
        return folder

    def _return_orphaned_claims(self, root: Path) -> None:
        for owner in os.listdir(root):
            pid = owner.partition("-")[0]
            if not pid.isdigit() or identity(int(pid)) == owner:
                continue  # not a claims folder, or its consumer still runs
            try:
                names = sorted(os.listdir(root / owner))
            except OSError:  # returned meanwhile by another consumer, or not a folder
                continue
            returned = 0
            for name in names:
                with contextlib.suppress(OSError):  # another consumer returned it first
                    os.rename(root / owner / name, os.path.join(self.data_folder_in, name))
                    returned += 1
            with contextlib.suppress(OSError):
                os.rmdir(root / owner)
            if returned:
                log.warning(
                    "returned %d broker message(s) to the queue, claimed by a consumer "
                    "that is gone (pid %s)",
                    returned,
                    pid,
                )

    def _remove_abandoned_parts(self) -> None:
        # A publisher that died between writing and renaming leaves its part
        # behind; no write takes PART_MAX_AGE, so an older part is abandoned.
        # A mover that died leaves a whole message under its moving name: it
        # goes back to the queue. (A rename keeps the message's mtime, so its
        # age there is the ctime the rename set.)
        now = time.time()
        for name in os.listdir(self.data_folder_out):
            path = os.path.join(self.data_folder_out, name)
            with contextlib.suppress(OSError):  # renamed or removed meanwhile
                if name.endswith(PART_SUFFIX) and os.stat(path).st_mtime < now - PART_MAX_AGE:
                    os.unlink(path)
                    log.warning("removed %s, a message its publisher never finished", name)
                elif name.endswith(MOVING_SUFFIX) and os.stat(path).st_ctime < now - MOVE_MAX_AGE:
                    original = name[1 : -len(MOVING_SUFFIX)]
                    os.rename(path, os.path.join(self.data_folder_out, original))
                    log.warning("returned %s to its queue: the process moving it died", original)

    @property
    def _claims(self) -> dict[str, Path]:
        """Delivery tag → claimed file, for the messages this process holds."""
        claims: dict[str, Path] = self.connection.claims
        return claims

    def _release(self, delivery_tag: str) -> None:
        claimed = self._claims.pop(delivery_tag, None)
        if claimed is not None:
            claimed.unlink(missing_ok=True)

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        self._release(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        self._release(delivery_tag)

    def _restore(self, message: Any) -> None:
        # Put back as a new file (kombu's way), then drop the claim on the old one.
        super()._restore(message)  # type: ignore[no-untyped-call]
        self._release(message.delivery_tag)

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
        try:
            write_message(self.data_folder_out, queue, payload)
        except OSError as exc:
            raise ChannelError(f"cannot add a message to {self.data_folder_out}: {exc}") from exc

    def _poll(self, cycle: Any, callback: Any, timeout: Any = None) -> Any:
        # kombu's cycle goes round the queues in turn; a worker of both lanes
        # must look at the interactive one (consumed first: see run.py) first,
        # every time.
        cycle.pos = 0
        return cycle.get(callback)

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """The oldest readable message of ``queue``; unreadable ones are quarantined."""
        claims = self.claim_folder  # first, as it may return older messages to the queue
        for name in message_files(self.data_folder_in, queue):
            claimed = claims / name
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer claimed it first
            try:
                payload = loads(bytes_to_str(claimed.read_bytes()))  # type: ignore[no-untyped-call]
                # Building the message is what the consumer does next; a file
                # that fails it here fails alone instead of in the consumer loop.
                message = self.Message(payload, channel=self)  # type: ignore[no-untyped-call]
            except Exception as exc:  # whatever is wrong, it is wrong with this file only
                self._quarantine(claimed, exc)
                continue
            self._claims[message.delivery_tag] = claimed
            return payload
        raise Empty()

    def _quarantine(self, path: Path, why: Exception) -> None:
        """Move an unreadable file aside for the operator, logged and counted."""
        target = self.quarantine_folder / path.name
        if target.exists():  # a routing table can go bad more than once
            target = target.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
        reason = f"{type(why).__name__}: {why}"
        try:
            os.replace(path, target)
        except OSError as exc:
            log.error("unreadable broker file %s (%s) could not be moved: %s", path, reason, exc)
            return
        log.warning("quarantined unreadable broker file %s (%s) as %s", path.name, reason, target)

    # The routing table of an exchange (control/<exchange>.exchange) is read
    # on every publish and written when a queue is bound; kombu rewrites it in
    # place, so a crash or a full disk can leave it cut short.

    def get_table(self, exchange: str) -> list[Any]:
        try:
            table: list[Any] = super().get_table(exchange)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError) as exc:
            self._quarantine(self._exchange_file(exchange), exc)  # type: ignore[no-untyped-call]
            table = []
        if table:
            return table
        # Unreadable or gone: rebuilt from the bindings this process declared
        # (a worker declares its queue, a publisher the queue it sends to) and
        # written again for the others, instead of routing nowhere.
        known = self.state.exchanges.get(exchange, {}).get("table", [])
        for meta in known:
            self._queue_bind(exchange, *meta)
        return [filesystem.exchange_queue_t(*meta) for meta in known]

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        try:
            super()._queue_bind(exchange, routing_key, pattern, queue)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError) as exc:
            self._quarantine(self._exchange_file(exchange), exc)  # type: ignore[no-untyped-call]
            super()._queue_bind(exchange, routing_key, pattern, queue)  # type: ignore[no-untyped-call]


class Transport(filesystem.Transport):
    Channel = Channel
    # Our own state, so nothing is shared with a plain "filesystem://" connection.
    global_state = virtual.BrokerState()  # type: ignore[no-untyped-call]

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)  # type: ignore[no-untyped-call]
        # Here, not on a channel: a message may be acknowledged through
        # another channel of the connection than the one that took it.
        self.claims: dict[str, Path] = {}
