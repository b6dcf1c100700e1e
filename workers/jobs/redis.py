"""``RedisJobStore``: job records in Redis, one Lua script per write (see the package)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import redis

from workers.jobs.common import (
    DEFAULT_TTL_S,
    FIRST_AUDIO_BOUNDS,
    STATUSES,
    Clock,
    Histogram,
    Job,
    JobStatus,
    Lease,
    QueueFull,
    _buckets_of,
    _check_duration,
    _check_fraction,
    _check_id,
    _check_limit,
    _check_ttl,
    _dump_payload,
    _le,
    _load_payload,
    _status,
    chars_of,
    title_of,
)

POOL_SIZE = 64
"""Connections one process keeps to the job store at most."""

REDIS_TIMEOUT_S = 3.0
"""How long a Redis call may wait for a connection or an answer. Without it a
Redis that stops answering (a partition, not a refusal) blocks a web request,
/healthz or a worker's heartbeat for ever instead of failing as unreachable."""


def redis_client(url: str, *, timeout: float = REDIS_TIMEOUT_S) -> redis.Redis:
    """A client whose calls give up after ``timeout`` seconds of silence (see REDIS_TIMEOUT_S)."""
    # A blocking pool: past its size a caller waits (up to ``timeout``) for a
    # free connection instead of failing at once. redis-py's default pool
    # refuses the 101st concurrent caller with "Too many connections", which a
    # burst of requests on a threaded server reaches.
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        # A connection idle for this long is checked before use, so one that
        # died quietly (a restarted Redis, a NAT timeout) fails fast, not mid-call.
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


# KEYS: job, payload, index, recent. ARGV: now, ttl_ms (abandoned), payload, job id, site,
# site_limit, total_limit, audio_gone (1: a ready job may be reset too), title, chars,
# quota (what the site cap counts it as, the index's value).
# Returns 1 (accepted), 0 (alive or done), -1 (the site is full), -2 (the index is full).
_ACCEPT = """
local status = redis.call('HGET', KEYS[1], 'status')
local resettable = status == 'failed' or (status == 'ready' and ARGV[8] == '1')
if status and not resettable then return 0 end
local site_limit, total_limit = tonumber(ARGV[6]), tonumber(ARGV[7])
if site_limit > 0 then
  local mine = 0
  for _, site in ipairs(redis.call('HVALS', KEYS[3])) do
    if site == ARGV[11] then mine = mine + 1 end
  end
  if mine >= site_limit then return -1 end
end
if total_limit > 0 and redis.call('HLEN', KEYS[3]) >= total_limit then return -2 end
if status then
  redis.call('HDEL', KEYS[1], 'error_code', 'error_message', 'duration_s', 'worker',
    'first_audio_s', 'synthesis_s', 'cancel', 'title')
else
  redis.call('HSET', KEYS[1], 'created', ARGV[1])
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'progress', 0, 'updated', ARGV[1], 'attempts', 0,
  'accepted', ARGV[1], 'site', ARGV[5], 'chars', ARGV[10])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'title', string.sub(ARGV[9], 2)) end
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[11])
return 1
"""

# KEYS: job, payload. ARGV: stale_before (or '' for any), now, ttl_ms, n, field/value pairs.
# Changes a queued or working job only.
_REFRESH = """
local rec = redis.call('HMGET', KEYS[1], 'status', 'updated')
if rec[1] ~= 'queued' and rec[1] ~= 'working' then return 0 end
if ARGV[1] ~= '' and (tonumber(rec[2]) or 0) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('HDEL', KEYS[1], 'worker')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: job, payload, index. ARGV: ttl_ms, job id, finished (0/1), count ('attempts' or ''),
# n, n field names to delete, then field/value pairs. Updates only an existing
# record: a late heartbeat must not resurrect a forgotten job. Returns the
# counted field's new value, or 2 when the job was cancelled, else 1; 0 when there is no record.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[5])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 6, 5 + n)) end
redis.call('HSET', KEYS[1], unpack(ARGV, 6 + n))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if ARGV[3] == '1' then redis.call('HDEL', KEYS[3], ARGV[2]) end
if ARGV[4] ~= '' then return redis.call('HINCRBY', KEYS[1], ARGV[4], 1) end
if redis.call('HEXISTS', KEYS[1], 'cancel') == 1 then return 2 end
return 1
"""

# KEYS: job, histogram. ARGV: seconds, now, then the labels of the buckets to count in.
# Records an existing job's first audio and counts it, in one step; 0 when there is no record.
_FIRST_AUDIO = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'first_audio_s', ARGV[1], 'updated', ARGV[2])
for i = 3, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
redis.call('HINCRBY', KEYS[2], 'count', 1)
redis.call('HINCRBYFLOAT', KEYS[2], 'sum', ARGV[1])
return 1
"""

# KEYS: job, payload, index. ARGV: job id, now, ttl_ms (finished). The operator's cancel:
# returns the status found ('' when there is no record).
_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return '' end
if status ~= 'queued' and status ~= 'working' then return status end
redis.call('HSET', KEYS[1], 'cancel', 1, 'updated', ARGV[2])
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error_code', 'cancelled',
    'error_message', 'cancelled by an operator')
  redis.call('HDEL', KEYS[1], 'duration_s')
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return status
"""

# KEYS: job, index. ARGV: job id. Drops an index entry whose job is finished or gone.
_PRUNE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'working' then return 0 end
return redis.call('HDEL', KEYS[2], ARGV[1])
"""

# KEYS: lease. ARGV: owner, ttl_ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lease. ARGV: owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_Arg = bytes | str | int | float


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _glob_escape(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)


class _RedisLease(Lease):
    def __init__(self, store: RedisJobStore, job_id: str, owner: str, ttl: float) -> None:
        super().__init__(job_id, owner)
        self._store = store
        self._ttl_ms = _ms(ttl)
        self._held = True

    def renew(self) -> bool:
        if self._held:
            key = self._store.key("lease", self.job_id)
            self._held = bool(self._store._renew(keys=[key], args=[self.owner, self._ttl_ms]))
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._store._release(keys=[self._store.key("lease", self.job_id)], args=[self.owner])


class RedisJobStore:
    """Job records in Redis, shared by every machine; ``client`` is the explicit connection."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "listen:",
        *,
        ttl_seconds: float = DEFAULT_TTL_S,
        abandoned_seconds: float | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = _ms(_check_ttl(ttl_seconds))
        """Expiry of a finished or failed job's record and payload, from its last write."""
        self.abandoned_ms = _ms(_check_ttl(abandoned_seconds or ttl_seconds))
        """Expiry of a queued or working job's, from its last sign of life."""
        self._clock = clock
        self._cancel = client.register_script(_CANCEL)
        self.recent_key = f"{prefix}recent"
        """A sorted set of job ids scored by acceptance time: what ``list_jobs`` reads."""
        self._accept = client.register_script(_ACCEPT)
        self._refresh = client.register_script(_REFRESH)
        self._update_script = client.register_script(_UPDATE)
        self._prune = client.register_script(_PRUNE)
        self.index_key = f"{prefix}unfinished"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._first_audio = client.register_script(_FIRST_AUDIO)
        self.first_audio_key = f"{prefix}first_audio"

    def key(self, kind: str, job_id: str) -> str:
        """The Redis key of a job's ``job``, ``payload`` or ``lease``."""
        return f"{self.prefix}{kind}:{_check_id(job_id)}"

    def _update(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        delete: tuple[str, ...] = (),
        *,
        finished: bool = False,
        count: str = "",
    ) -> int:
        pairs: list[_Arg] = [x for item in changes.items() for x in item]
        args: list[_Arg] = [
            self.ttl_ms if finished else self.abandoned_ms,
            job_id,
            int(finished),
            count,
            len(delete),
            *delete,
            *pairs,
            "updated",
            repr(self._clock()),
        ]
        keys = [self.key("job", job_id), self.key("payload", job_id), self.index_key]
        result = int(self._update_script(keys=keys, args=args))
        if not result:
            raise KeyError(job_id)
        return result

    def _refresh_if(
        self,
        job_id: str,
        stale_before: float | None,
        changes: Mapping[str, Any],
        *,
        wait: float = 0.0,
    ) -> bool:
        pairs: list[_Arg] = [x for item in changes.items() for x in item]
        cutoff = "" if stale_before is None else repr(float(stale_before))
        updated = repr(self._clock() + wait)
        args: list[_Arg] = [cutoff, updated, self.abandoned_ms, len(pairs), *pairs]
        keys = [self.key("job", job_id), self.key("payload", job_id)]
        return bool(self._refresh(keys=keys, args=args))

    def get(self, job_id: str) -> Job | None:
        raw: dict[bytes | str, bytes | str] = self.client.hgetall(self.key("job", job_id))
        return _job(job_id, raw) if raw else None

    def list_jobs(
        self, status: JobStatus | None = None, site: str | None = None, limit: int = 50
    ) -> list[Job]:
        limit = _check_limit(limit)
        page = max(100, limit)
        found: list[str] = []
        gone: list[str] = []
        start = 0
        # Status and site first (two fields of each record), whole records of the matches only.
        while len(found) < limit:
            ids = self._ids(self.client.zrevrange(self.recent_key, start, start + page - 1))
            if not ids:
                break
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(self.key("job", job_id), "status", "site")
            for job_id, (got_status, got_site) in zip(ids, pipe.execute(), strict=True):
                if got_status is None:
                    gone.append(job_id)
                elif (status is None or _text(got_status) == status) and (
                    site is None or _text(got_site or b"") == site
                ):
                    found.append(job_id)
            start += page
        if gone:  # expired or forgotten: out of the index too
            self.client.zrem(self.recent_key, *gone)
        return self._jobs(found[:limit])

    def accepted_since(self, since: float) -> list[Job]:
        return self._jobs(
            self._ids(self.client.zrangebyscore(self.recent_key, repr(since), "+inf"))
        )

    def _jobs(self, ids: list[str]) -> list[Job]:
        """The records of ``ids``, in order, pipelined 500 at a time; a record that
        expired or was forgotten since its id was read is left out."""
        jobs: list[Job] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            pipe = self.client.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hgetall(self.key("job", job_id))
            jobs += [_job(i, raw) for i, raw in zip(chunk, pipe.execute(), strict=True) if raw]
        return jobs

    def expire(self) -> int:
        # Records and payloads expire by themselves (PEXPIRE); this prunes the index.
        gone = 0
        start = 0
        while ids := self._ids(self.client.zrange(self.recent_key, start, start + 999)):
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.exists(self.key("job", job_id))
            dead = [i for i, alive in zip(ids, pipe.execute(), strict=True) if not alive]
            if dead:
                gone += int(self.client.zrem(self.recent_key, *dead))
            start += 1000 - len(dead)
        return gone

    @staticmethod
    def _ids(members: Any) -> list[str]:
        return [_text(m) for m in members]

    def cancel(self, job_id: str) -> JobStatus | None:
        keys = [self.key("job", job_id), self.key("payload", job_id), self.index_key]
        found = _text(self._cancel(keys=keys, args=[job_id, repr(self._clock()), self.ttl_ms]))
        return _status(found) if found else None

    def payload(self, job_id: str) -> dict[str, Any] | None:
        data: bytes | str | None = self.client.get(self.key("payload", job_id))
        return None if data is None else _load_payload(data)

    def accept(
        self,
        job_id: str,
        payload: Mapping[str, Any],
        *,
        site: str = "",
        site_limit: int = 0,
        total_limit: int = 0,
        audio_gone: bool = False,
        quota: str | None = None,
    ) -> bool:
        keys = [
            self.key("job", job_id),
            self.key("payload", job_id),
            self.index_key,
            self.recent_key,
        ]
        title = title_of(payload)
        args: list[_Arg] = [
            repr(self._clock()),
            self.abandoned_ms,
            _dump_payload(payload),
            job_id,
            site,
            int(site_limit),
            int(total_limit),
            int(audio_gone),
            # '=' first so that an empty title is kept; lone surrogates escaped.
            "" if title is None else ("=" + title).encode("utf-8", "backslashreplace"),
            chars_of(payload),
            site if quota is None else quota,
        ]
        result = int(self._accept(keys=keys, args=args))
        if result == -1:
            raise QueueFull("site", site_limit)
        if result == -2:
            raise QueueFull("all", total_limit)
        return result == 1

    def take_over_stale(self, job_id: str, stale_before: float) -> bool:
        return self._refresh_if(job_id, stale_before, {"status": "queued", "progress": 0})

    def touch(self, job_id: str) -> bool:
        return self._refresh_if(job_id, None, {})

    def requeue(self, job_id: str, *, wait: float = 0.0) -> bool:
        return self._refresh_if(job_id, None, {"status": "queued", "progress": 0}, wait=wait)

    def set_priority(self, job_id: str, priority: str) -> bool:
        key = self.key("payload", job_id)
        found = False

        def update(pipe: redis.client.Pipeline) -> None:
            nonlocal found
            data = pipe.get(key)
            found = data is not None
            if data is not None:
                changed = _dump_payload({**_load_payload(data), "priority": priority})
                pipe.multi()
                pipe.set(key, changed, keepttl=True)

        # Optimistic: run again if the payload changes between the read and the write.
        self.client.transaction(update, key)
        return found

    def start(self, job_id: str, worker: str) -> int:
        changes = {"status": "working", "progress": 0, "worker": worker}
        return self._update(job_id, changes, delete=("first_audio_s",), count="attempts")

    def heartbeat(self, job_id: str, progress: float) -> bool:
        return self._update(job_id, {"progress": repr(_check_fraction(progress))}) == 2

    def finish(self, job_id: str, duration_s: float, *, synthesis_s: float | None = None) -> None:
        changes = {
            "status": "ready",
            "progress": 1,
            "duration_s": repr(_check_duration(duration_s)),
        }
        if synthesis_s is not None:
            changes["synthesis_s"] = repr(_check_duration(synthesis_s))
        # A cancel that came after the last heartbeat did not stop it: the audio is made.
        delete = ("error_code", "error_message", "cancel")
        self._update(job_id, changes, delete=delete, finished=True)

    def fail(self, job_id: str, code: str, message: str) -> None:
        changes = {"status": "failed", "error_code": str(code), "error_message": str(message)}
        self._update(job_id, changes, delete=("duration_s",), finished=True)

    def forget(self, job_id: str) -> None:
        # The lease stays: its holder may still be running, and it expires by itself.
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.key("job", job_id), self.key("payload", job_id))
        pipe.hdel(self.index_key, job_id)
        pipe.execute()

    def first_audio(self, job_id: str, seconds: float) -> None:
        seconds = _check_duration(seconds)
        args: list[_Arg] = [repr(seconds), repr(self._clock()), *_buckets_of(seconds)]
        keys = [self.key("job", job_id), self.first_audio_key]
        if not self._first_audio(keys=keys, args=args):
            raise KeyError(job_id)

    def first_audio_histogram(self) -> Histogram:
        raw: dict[bytes | str, bytes | str] = self.client.hgetall(self.first_audio_key)
        rec = {_text(k): _text(v) for k, v in raw.items()}
        return Histogram(
            FIRST_AUDIO_BOUNDS,
            tuple(int(rec.get(_le(b), 0)) for b in FIRST_AUDIO_BOUNDS),
            int(rec.get("count", 0)),
            float(rec.get("sum", 0.0)),
        )

    def lease(self, job_id: str, owner: str, ttl: float) -> Lease | None:
        key = self.key("lease", job_id)
        if not self.client.set(key, owner, nx=True, px=_ms(_check_ttl(ttl))):
            return None
        return _RedisLease(self, job_id, owner, ttl)

    def lease_held(self, job_id: str) -> bool:
        return bool(self.client.exists(self.key("lease", job_id)))

    def lease_left(self, job_id: str) -> float | None:
        ms = int(self.client.pttl(self.key("lease", job_id)))
        return max(ms, 0) / 1000  # -2: no lease; leases always have a TTL

    def unfinished(self) -> list[str]:
        ids = [_text(k) for k in self.client.hkeys(self.index_key)]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(self.key("job", job_id), "status")
        alive = []
        for job_id, status in zip(ids, pipe.execute(), strict=True):
            if status is not None and _text(status) in ("queued", "working"):
                alive.append(job_id)
            else:  # expired, forgotten or finished: drop it unless revived meanwhile
                self._prune(keys=[self.key("job", job_id), self.index_key], args=[job_id])
        return alive

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        keys = list(self.client.scan_iter(match=_glob_escape(self.prefix) + "job:*", count=1000))
        for start in range(0, len(keys), 1000):
            pipe = self.client.pipeline(transaction=False)
            for key in keys[start : start + 1000]:
                pipe.hget(key, "status")
            for status in pipe.execute():
                if status is not None:  # expired or forgotten since the scan
                    counts[_status(_text(status))] += 1
        return counts


def _job(job_id: str, raw: Mapping[bytes | str, bytes | str]) -> Job:
    rec = {_text(k): _text(v) for k, v in raw.items()}
    error = None
    if "error_code" in rec:
        error = {"code": rec["error_code"], "message": rec.get("error_message", "")}

    def number(name: str) -> float | None:
        return float(rec[name]) if name in rec else None

    return Job(
        id=job_id,
        status=_status(rec["status"]),
        progress=float(rec["progress"]),
        error=error,
        duration_s=number("duration_s"),
        created=float(rec["created"]),
        updated=float(rec["updated"]),
        attempts=int(rec["attempts"]),
        # Records written before accept times were kept: their creation is their acceptance.
        accepted=float(rec.get("accepted", rec["created"])),
        first_audio_s=number("first_audio_s"),
        title=rec.get("title"),
        site=rec.get("site", ""),
        chars=int(rec.get("chars", 0)),
        worker=rec.get("worker"),
        synthesis_s=number("synthesis_s"),
        cancel_requested="cancel" in rec,
    )
