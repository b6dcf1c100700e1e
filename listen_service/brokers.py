"""The brokers as re-driving lost jobs looks into them (``workers.redrive.Broker``),
and as the lanes do (``listen_service.lanes``): where a job waits, moving it.

Asked on a status poll of a silent job, by every worker's sweep and on polls
of a queued job, so an answer costs no decoding of messages: article bodies
can make a queue of a thousand jobs a hundred megabytes. Task ids are job ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path

import redis

from listen_service.fsbroker import message_files, move_message, moving_files, task_id_of

# kombu's Redis transport keeps priority p > 0 of queue q in the list "q\x06\x16p",
# and each delivered, unacknowledged message in the hash "unacked" (tag →
# [message, exchange, routing key]) indexed by the sorted set "unacked_index".
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

# Each message's task id is found by a plain substring search for the JSON
# member "id": "…", not by decoding: inside a JSON string every quote is
# escaped, so text quoting such a member (an article, in the headers'
# argsrepr; the body itself is base64) cannot match, and the headers' task id
# is the one member named exactly "id" in a Celery message. Lists are read a
# batch at a time, so a long queue is never copied into the script's memory.
_TASK_ID = """
local function task_id(raw)
  local _, last = string.find(raw, '"id": "', 1, true)
  if not last then _, last = string.find(raw, '"id":"', 1, true) end
  if not last then return nil end
  local stop = string.find(raw, '"', last + 1, true)
  return stop and string.sub(raw, last + 1, stop - 1)
end
"""

# KEYS: the queues' lists. ARGV: job ids. Those of ARGV with a message in the lists.
_WAITING = (
    _TASK_ID
    + """
local wanted, found = {}, {}
for _, id in ipairs(ARGV) do wanted[id] = true end
for _, key in ipairs(KEYS) do
  local start, batch = 0, 64
  repeat
    local raws = redis.call('LRANGE', key, start, start + batch - 1)
    for _, raw in ipairs(raws) do
      local id = task_id(raw)
      if id and wanted[id] then
        found[#found + 1] = id
        wanted[id] = nil
        if #found == #ARGV then return found end
      end
    end
    start = start + batch
  until #raws < batch
end
return found
"""
)

# KEYS: the lanes' lists, in order. ARGV: job id, cap. {index in KEYS, messages
# ahead} for the first list holding the job's message, or nil. kombu pushes on
# the left and pops on the right, so the scan goes from the right end, at most
# about cap messages a list.
_POSITION = (
    _TASK_ID
    + """
local cap, batch = tonumber(ARGV[2]), 64
for lane, key in ipairs(KEYS) do
  local seen = 0
  while seen < cap do
    local raws = redis.call('LRANGE', key, -seen - batch, -seen - 1)
    for i = #raws, 1, -1 do
      if task_id(raws[i]) == ARGV[1] then return {lane, seen + #raws - i} end
    end
    seen = seen + #raws
    if #raws < batch then break end
  end
end
return nil
"""
)

# KEYS: from, to. ARGV: job id, the message's routing member for from, for to.
# Moves the job's message from one list to the back of the other, its routing
# key rewritten so that a retry or a restore stays in the new lane; 1 if moved.
# One script, so of concurrent calls exactly one moves it.
_MOVE = (
    _TASK_ID
    + """
local start, batch = 0, 64
repeat
  local raws = redis.call('LRANGE', KEYS[1], start, start + batch - 1)
  for _, raw in ipairs(raws) do
    if task_id(raw) == ARGV[1] then
      redis.call('LREM', KEYS[1], 1, raw)
      local first, last = string.find(raw, ARGV[2], 1, true)
      if first then raw = string.sub(raw, 1, first - 1) .. ARGV[3] .. string.sub(raw, last + 1) end
      redis.call('LPUSH', KEYS[2], raw)
      return 1
    end
  end
  start = start + batch
until #raws < batch
return 0
"""
)

# KEYS: unacked, unacked_index. ARGV: job id. Removes the job's deliveries.
_DROP_DELIVERED = """
local entries, dropped = redis.call('HGETALL', KEYS[1]), 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and type(entry) == 'table' and type(entry[1]) == 'table'
      and type(entry[1].headers) == 'table' and entry[1].headers.id == ARGV[1] then
    redis.call('HDEL', KEYS[1], entries[i])
    redis.call('ZREM', KEYS[2], entries[i])
    dropped = dropped + 1
  end
end
return dropped
"""


class RedisBroker:
    """A Redis broker, as kombu's Redis transport lays it out."""

    def __init__(self, client: redis.Redis, queues: Sequence[str]) -> None:
        self._queues = [q + suffix for q in queues for suffix in _REDIS_PRIORITY_SUFFIXES]
        self._waiting = client.register_script(_WAITING)
        self._position = client.register_script(_POSITION)
        self._move = client.register_script(_MOVE)
        self._drop = client.register_script(_DROP_DELIVERED)

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        if not job_ids:
            return set()
        found = self._waiting(keys=self._queues, args=list(job_ids))
        return {v.decode() if isinstance(v, bytes) else str(v) for v in found}

    def drop_delivered(self, job_id: str) -> None:
        # A lost job's delivery belongs to a dead worker (a live one holds the
        # lease, or touched the job lately); left alone, kombu would put it back
        # after its visibility timeout: a second message for the job. Rare
        # (only for a lost job), so decoding the deliveries is affordable here.
        self._drop(keys=["unacked", "unacked_index"], args=[job_id])

    def position(self, job_id: str, queues: tuple[str, ...], cap: int) -> tuple[str, int] | None:
        found = self._position(keys=list(queues), args=[job_id, cap])
        if not found:
            return None
        lane, ahead = found
        return queues[int(lane) - 1], int(ahead)

    def move(self, job_id: str, source: str, target: str) -> bool:
        """Move the job's waiting message from queue ``source`` to the back of ``target``;
        False when it is not waiting in ``source``."""
        routing = '"routing_key": "{}"'
        args = [job_id, routing.format(source), routing.format(target)]
        return bool(self._move(keys=[source, target], args=args))


class FolderBroker:
    """The embedded broker (``listen_service.fsbroker``) under its folder ``root``.

    A message counts as waiting in the queue and also while claimed: by a live
    worker (it works on the job or holds it for later) or by a dead one (the
    next consumer returns it to the queue), so a job is never enqueued twice.
    """

    def __init__(self, root: Path, queues: Sequence[str]) -> None:
        self._queue_folder = root / "queue"
        self._claim_root = root / "claimed"
        self._queues = tuple(queues)

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        """Those of ``job_ids`` with a message in the queue or claimed.

        Messages move while we look: from a dead owner's claims back to the
        queue, and from the queue into a consumer's claims (whose folder may
        be new). The claims are looked at before and after the queue, each
        time listed afresh, so a message that moves once while we look is
        seen on one side or the other.
        """
        wanted = set(job_ids)
        found = set[str]()
        if not wanted:
            return found
        for listing in (self._claims, lambda: [self._queue_folder], self._claims):
            for folder in listing():  # listed only when its turn comes
                if wanted <= found:
                    return found
                found |= self._ids_in(folder) & wanted
        return found

    def _ids_in(self, folder: Path) -> set[str]:
        try:
            names = [
                name
                for queue in self._queues
                for listing in (message_files, moving_files)
                for name in listing(folder, queue)
            ]
        except OSError:  # a dead owner's claims, returned meanwhile
            return set()
        ids = set[str]()
        for name in names:
            task_id = task_id_of(name)
            if task_id is None:  # kombu's own name: the id is only inside
                task_id = _read_task_id(folder / name)
            if task_id is not None:
                ids.add(task_id)
        return ids

    def _claims(self) -> list[Path]:
        try:
            owners = os.listdir(self._claim_root)
        except FileNotFoundError:
            owners = []
        return [self._claim_root / owner for owner in owners]

    def drop_delivered(self, job_id: str) -> None:
        """Nothing to drop: a claimed message counts as waiting, so a lost job has none."""

    def position(self, job_id: str, queues: tuple[str, ...], cap: int) -> tuple[str, int] | None:
        """Only the queue folder counts: a claimed message is a worker's already."""
        for queue in queues:
            names = message_files(self._queue_folder, queue)[:cap]
            for ahead, name in enumerate(names):
                if task_id_of(name) == job_id:
                    return queue, ahead
        return None

    def move(self, job_id: str, source: str, target: str) -> bool:
        """As ``RedisBroker.move``."""
        for name in message_files(self._queue_folder, source):
            if task_id_of(name) == job_id:
                return move_message(self._queue_folder, name, target)
        return False


class OpaqueBroker:
    """A broker we cannot look into: every silent job counts as lost, so a lost one is
    re-driven at the price of an occasional duplicate (which runs once anyway)."""

    def waiting(self, job_ids: Collection[str]) -> set[str]:
        return set()

    def drop_delivered(self, job_id: str) -> None:
        pass

    def position(self, job_id: str, queues: tuple[str, ...], cap: int) -> tuple[str, int] | None:
        return None

    def move(self, job_id: str, source: str, target: str) -> bool:
        return False


def _read_task_id(path: Path) -> str | None:
    try:
        task_id = (json.loads(path.read_bytes()).get("headers") or {}).get("id")
    except OSError:
        return None  # taken while we listed
    except (ValueError, AttributeError):
        return None  # half-written or foreign: not a message we can read
    return task_id if isinstance(task_id, str) else None
