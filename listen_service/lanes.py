"""Two lanes, so that a reader's press never waits behind bulk work.

A lane is a Celery queue: ``listen`` for interactive requests (a reader pressed
Listen: the embedded player sends ``"priority": "interactive"``) and
``listen.bulk`` for everything else (pre-generation, API clients by default).
The interactive lane keeps the old single queue's name, so messages queued
before the upgrade still run.

A worker of both lanes always looks at the interactive one first (see
``fsbroker.Channel._poll`` and ``celery_settings``'s ``queue_order_strategy``),
and ``serve`` runs a worker of the interactive lane alone besides its general
one: a reader never waits for a slot held by a long bulk article.

Which lane a job is in is part of its stored payload (``"priority"``), never
of its id: the same article asked for by a reader and by a pre-generation
script is one job, one audio file. A reader asking for a job still waiting in
the bulk lane moves its message to the interactive lane (``promote``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from redis.exceptions import RedisError

from workers.voices import ESPEAK

INTERACTIVE = "listen"
BULK = "listen.bulk"
# Jobs read by a neural voice, when the operator gives them a lane of their own
# (LISTEN_NEURAL_LANE: GPU workers beside CPU ones); else they go by priority.
NEURAL = "listen.neural"
# In the order a worker of every lane takes them.
QUEUES = (INTERACTIVE, BULK, NEURAL)
PRIORITIES = {"interactive": INTERACTIVE, "bulk": BULK}
LANE_NAMES = {**{queue: name for name, queue in PRIORITIES.items()}, NEURAL: "neural"}
# For API clients that do not say: their requests are usually scripted
# (pre-generation, back-catalogues), and a reader's press is the player's.
DEFAULT_PRIORITY = "bulk"
# Which lanes ``listen-service worker --lanes`` consumes.
WORKER_LANES: dict[str, tuple[str, ...]] = {
    "all": QUEUES,
    "interactive": (INTERACTIVE,),
    "bulk": (BULK,),
    # With LISTEN_NEURAL_LANE: CPU workers take "general", GPU workers "neural".
    "general": (INTERACTIVE, BULK),
    "neural": (NEURAL,),
}
# Messages looked at, per lane, to tell a job's place in it; beyond, "unknown".
SCAN_CAP = 1000
# A place found is reused for this long by this process: an event stream looks
# every 50 ms, and in Redis a scan copies each message it passes (measured:
# about 30 ms for 1,000 messages of 2,000-word articles).
REUSE_SECONDS = 0.5
# A place not found (beyond SCAN_CAP, held by a worker, a move half done) is
# reused longer: looking again would scan the whole capped lane each time.
UNKNOWN_REUSE_SECONDS = 2.0
_REUSE_MAX = 10_000
_recent: dict[tuple[object, str], tuple[float, dict[str, Any]]] = {}


def queue_of(payload: Mapping[str, Any]) -> str:
    """The queue a job's message goes to, from its stored payload."""
    if payload.get("lane") == LANE_NAMES[NEURAL]:
        return NEURAL
    return PRIORITIES.get(str(payload.get("priority", DEFAULT_PRIORITY)), BULK)


def lane_of(engine: str, neural_lane: bool) -> dict[str, str]:
    """What a stored payload says of its lane: ``{"lane": "neural"}`` for a job read
    by a neural voice when such jobs have a lane of their own, else nothing."""
    return {"lane": LANE_NAMES[NEURAL]} if neural_lane and engine != ESPEAK else {}


class LaneBroker(Protocol):
    """What a broker does for the lanes (``listen_service.brokers``)."""

    def position(self, job_id: str, queues: tuple[str, ...], cap: int) -> tuple[str, int] | None:
        """The first of ``queues`` holding ``job_id``'s message and how many are ahead of it
        (0: next), looking at no more than ``cap`` messages a queue; None when not seen."""

    def move(self, job_id: str, source: str, target: str) -> bool:
        """Move the job's waiting message from ``source`` to the back of ``target``, atomically:
        of concurrent calls one moves it. False when it is not waiting in ``source``."""


def promote(broker: LaneBroker, job_id: str) -> bool:
    """Move a job waiting in the bulk lane to the interactive one; whether it was moved.

    A move, not a second message: nothing is left behind in the bulk lane to
    take a worker later, and the broker's own atomic step (a rename, a Redis
    script) makes concurrent presses move it once.
    """
    moved = broker.move(job_id, BULK, INTERACTIVE)
    _recent.pop((broker, job_id), None)
    return moved


def queue_info(broker: LaneBroker, job_id: str, payload: Callable[[], Any]) -> dict[str, Any]:
    """The ``queue`` member of a queued job's body: its lane and how many messages are
    ahead of it there (as found up to ``REUSE_SECONDS`` ago). The position is None
    when it cannot be known (a broker we cannot look into, a queue longer than
    ``SCAN_CAP``, a message a worker holds); the lane is then the one the job was
    posted to (``payload()``, read only then: it can be a whole article)."""
    now = time.monotonic()
    reused = _recent.get((broker, job_id))
    if reused is not None and reused[0] > now:
        return dict(reused[1])
    try:
        found = broker.position(job_id, QUEUES, SCAN_CAP)
    except (RedisError, OSError):  # the broker is down: the position is unknown, not an error
        found = None
    if found is None:
        info: dict[str, Any] = {"lane": LANE_NAMES[queue_of(payload() or {})], "position": None}
        until = now + UNKNOWN_REUSE_SECONDS
    else:
        info = {"lane": LANE_NAMES[found[0]], "position": found[1]}
        until = now + REUSE_SECONDS
    if len(_recent) >= _REUSE_MAX:
        _recent.clear()
    _recent[(broker, job_id)] = (until, info)
    return dict(info)
