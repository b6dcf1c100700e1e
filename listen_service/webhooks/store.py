"""Where webhooks live: files under ``<LISTEN_DATA_DIR>/webhooks``, which every web and
worker machine shares (as the job store's files and the site index are).

``sites/<site digest>/hook.json``
    the site's registration ``{site, url, secret, base, created}``, written whole.
``sites/<site digest>/deliveries.jsonl``
    one JSON line per attempt, appended; cut to the last ``LOG_KEEP`` lines when
    it passes ``LOG_MAX_BYTES`` (an attempt that lands during the cut may be lost
    from it: the worker's log has every one).
``outbox/<due ms>-<delivery id>.json``
    an event waiting to be sent (first, or again after a failure), named so
    that a sorted listing is in the order they fall due.
``claimed/<delivery id>.json``
    an event a worker is sending. A worker claims one by renaming it out of
    the outbox: a rename succeeds once, so each attempt is made by one worker
    however many look. After the attempt it is deleted (delivered, given up)
    or renamed back into the outbox under its next due time; one left behind
    by a worker that died is put back by ``recover``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listen_service.publishers.index import site_folder, write_json, write_whole

LOG_KEEP = 100
LOG_MAX_BYTES = 128 * 1024
_TRIM = threading.Lock()


@dataclass(frozen=True, slots=True)
class Hook:
    site: str
    url: str
    secret: str
    base: str
    """The service's public origin as the site saw it when registering: the events' links."""
    created: float

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, "created": self.created}


class Webhooks:
    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "webhooks"
        self.outbox = self.root / "outbox"
        self.claimed = self.root / "claimed"

    # --- registrations ---

    def _site(self, site: str) -> Path:
        return self.root / "sites" / site_folder(site)

    def hook(self, site: str) -> Hook | None:
        return _read_hook(self._site(site) / "hook.json", site)

    def hooks(self) -> Iterator[Hook]:
        """Every registered webhook."""
        for path in (self.root / "sites").glob("*/hook.json"):
            found = _read_hook(path, None)
            if found is not None:
                yield found

    def register(self, hook: Hook) -> None:
        folder = self._site(hook.site)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "hook.json", {"site": hook.site, **hook.as_dict(), "base": hook.base})

    def remove(self, site: str) -> bool:
        try:
            (self._site(site) / "hook.json").unlink()
        except FileNotFoundError:
            return False
        return True

    # --- the deliveries log ---

    def log(self, site: str, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the site's log (one ``write`` of one line, O_APPEND), then
        cut the log to its last ``LOG_KEEP`` lines once it is over ``LOG_MAX_BYTES``."""
        folder = self._site(site)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "deliveries.jsonl"
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > LOG_MAX_BYTES:
            # One cut at a time in this process; another process's may race it.
            with _TRIM, contextlib.suppress(FileNotFoundError):
                lines = path.read_bytes().splitlines(keepends=True)
                if len(lines) > LOG_KEEP:
                    write_whole(path, b"".join(lines[-LOG_KEEP:]))

    def deliveries(self, site: str, limit: int = LOG_KEEP) -> list[dict[str, Any]]:
        """The site's last attempts, newest first."""
        try:
            lines = (self._site(site) / "deliveries.jsonl").read_bytes().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in reversed(lines[-limit:]):
            with contextlib.suppress(ValueError):  # a line cut short by a crash
                found.append(json.loads(line))
        return found

    # --- the outbox ---

    def put(self, event: dict[str, Any], due: float) -> None:
        """``event`` (with its ``delivery`` id) into the outbox, due at ``due``."""
        self.outbox.mkdir(parents=True, exist_ok=True)
        write_json(self.outbox / _name(due, event["delivery"]), event)

    def due(self, now: float, limit: int) -> list[str]:
        """Names of at most ``limit`` outbox events due by ``now``, earliest first."""
        try:
            names = sorted(n for n in os.listdir(self.outbox) if not n.startswith("."))
        except FileNotFoundError:
            return []
        cut = f"{int(now * 1000):013d}-\uffff"
        return [n for n in names if n <= cut][:limit]

    def claim(self, name: str) -> tuple[Path, dict[str, Any]] | None:
        """Take the outbox event ``name`` for this process: its claimed file and the
        event; None if another process took it first."""
        self.claimed.mkdir(parents=True, exist_ok=True)
        target = self.claimed / name.split("-", 1)[1]
        try:
            os.rename(self.outbox / name, target)
        except FileNotFoundError:
            return None
        os.utime(target)  # claimed now: what ``recover`` measures
        try:
            return target, json.loads(target.read_bytes())
        except ValueError:  # written by a process that crashed mid-way: nothing to send
            target.unlink()
            return None

    def again(self, claimed: Path, event: dict[str, Any], due: float) -> None:
        """Back into the outbox, to be tried at ``due``."""
        write_json(claimed, event)
        os.replace(claimed, self.outbox / _name(due, event["delivery"]))

    def recover(self, older_than_s: float, now: float | None = None) -> int:
        """Put back into the outbox, due at once, every event claimed longer ago than
        ``older_than_s`` (its worker died mid-attempt); how many."""
        now = time.time() if now is None else now
        put_back = 0
        for path in self.claimed.glob("*.json") if self.claimed.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > older_than_s:
                    os.rename(path, self.outbox / _name(now, path.stem))
                    put_back += 1
        return put_back

    def pending(self) -> dict[str, int]:
        """Events waiting or being sent, per site."""
        counts: dict[str, int] = {}
        for folder in (self.outbox, self.claimed):
            for path in folder.glob("*.json") if folder.is_dir() else ():
                with contextlib.suppress(FileNotFoundError, ValueError):
                    site = str(json.loads(path.read_bytes())["site"])
                    counts[site] = counts.get(site, 0) + 1
        return counts

    def overview(self, shown: int) -> list[dict[str, Any]]:
        """Every registered webhook (its URL, never its secret), the events waiting for it
        and its ``shown`` newest attempts, by site: what operators see."""
        pending = self.pending()
        return [
            {
                "site": hook.site,
                "url": hook.url,
                "created": hook.created,
                "pending": pending.get(hook.site, 0),
                "deliveries": self.deliveries(hook.site, shown),
            }
            for hook in sorted(self.hooks(), key=lambda h: h.site)
        ]


def _name(due: float, delivery: str) -> str:
    return f"{int(due * 1000):013d}-{delivery}.json"


def _read_hook(path: Path, site: str | None) -> Hook | None:
    try:
        raw = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if site is not None and raw.get("site") != site:
        return None
    return Hook(raw["site"], raw["url"], raw["secret"], raw["base"], float(raw["created"]))
