"""Webhook signing, backoff, the outbox's claims and one delivery pass against a real
loopback receiver, in-process (the service tests run them in real workers)."""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from listen_service.webhooks.deliver import deliver_due
from listen_service.webhooks.signing import BACKOFF_CAP_S, retry_delay, signature
from listen_service.webhooks.store import LOG_KEEP, LOG_MAX_BYTES, Hook, Webhooks
from tests.webhook_receiver import documented_verify, receiver

SECRET = "whsec_test-secret"
SETTINGS = {
    "LISTEN_WEBHOOK_TIMEOUT_SECONDS": 5.0,
    "LISTEN_WEBHOOK_ALLOW_PRIVATE": True,
    "LISTEN_WEBHOOK_ATTEMPTS": 3,
    "LISTEN_WEBHOOK_RETRY_SECONDS": 10.0,
}


def test_the_documented_recipe_accepts_our_signature_and_nothing_else() -> None:
    verify = documented_verify()
    body = b'{"event":"audio.ready"}'
    now = int(time.time())
    assert verify(SECRET, signature(SECRET, body, now), body)
    assert not verify(SECRET, signature(SECRET, body, now), body + b" ")  # tampered
    assert not verify("whsec_other", signature(SECRET, body, now), body)  # not our secret
    assert not verify(SECRET, signature(SECRET, body, now - 301), body)  # replayed later
    assert not verify(SECRET, signature(SECRET, body, now).replace("t=", "t=²"), body)
    assert not verify(SECRET, "", body)


def test_backoff_doubles_from_the_first_wait_up_to_an_hour() -> None:
    assert [retry_delay(n, 30.0) for n in range(1, 8)] == [30, 60, 120, 240, 480, 960, 1920]
    assert retry_delay(20, 30.0) == BACKOFF_CAP_S


def _event(site: str = "news", delivery: str = "d1") -> dict[str, Any]:
    body = {"event": "audio.ready", "delivery": delivery, "article": {"id": "ab" * 32}}
    return {
        "delivery": delivery,
        "event": "audio.ready",
        "site": site,
        "job_id": "ab" * 32,
        "attempts": 0,
        "body": body,
    }


def test_an_event_is_claimed_once_and_comes_back_when_due(tmp_path: Path) -> None:
    hooks = Webhooks(tmp_path)
    hooks.put(_event(delivery="later"), due=2000.0)
    hooks.put(_event(delivery="first"), due=1000.0)
    assert [n.split("-", 1)[1] for n in hooks.due(1500.0, 10)] == ["first.json"]
    name = hooks.due(1500.0, 10)[0]
    claimed = hooks.claim(name)
    assert claimed is not None and claimed[1]["delivery"] == "first"
    assert hooks.claim(name) is None  # another worker looking: gone already
    assert hooks.pending() == {"news": 2}
    hooks.again(claimed[0], {**claimed[1], "attempts": 1}, due=3000.0)
    assert [n.split("-", 1)[1] for n in hooks.due(2500.0, 10)] == ["later.json"]
    again = hooks.claim(hooks.due(3000.0, 10)[1])
    assert again is not None and again[1]["attempts"] == 1


def test_a_claim_left_by_a_dead_worker_is_put_back(tmp_path: Path) -> None:
    hooks = Webhooks(tmp_path)
    hooks.put(_event(), due=0.0)
    assert hooks.claim(hooks.due(1.0, 1)[0]) is not None
    assert hooks.due(time.time(), 10) == []
    assert hooks.recover(older_than_s=60.0) == 0  # just claimed: its worker is on it
    assert hooks.recover(older_than_s=60.0, now=time.time() + 61) == 1
    assert len(hooks.due(time.time() + 61, 10)) == 1


def test_the_log_keeps_the_newest_attempts(tmp_path: Path) -> None:
    hooks = Webhooks(tmp_path)
    filler = "x" * 200
    lines = 2 * LOG_MAX_BYTES // len(filler)
    for n in range(lines):
        hooks.log("news", {"attempt": n, "error": filler})
    kept = hooks.deliveries("news", limit=lines)
    assert LOG_KEEP <= len(kept) < LOG_MAX_BYTES // len(filler)
    assert kept[0] == {"attempt": lines - 1, "error": filler}
    assert [e["attempt"] for e in kept] == list(range(lines - 1, lines - 1 - len(kept), -1))
    assert hooks.deliveries("blog") == []


def test_threads_logging_at_once_past_the_cap_lose_no_attempt_to_an_error(tmp_path: Path) -> None:
    hooks = Webhooks(tmp_path)
    filler = "x" * 200
    each = LOG_MAX_BYTES // len(filler)

    def write(thread: int) -> None:
        for n in range(each):
            hooks.log("news", {"thread": thread, "attempt": n, "error": filler})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))  # raises what any thread raised
    kept = hooks.deliveries("news", limit=4 * each)
    assert LOG_KEEP <= len(kept) <= LOG_MAX_BYTES // len(filler) + 4


def _pass(hooks: Webhooks, settings: dict[str, Any], now: float) -> list[str]:
    with ThreadPoolExecutor(2) as pool:
        return deliver_due(hooks, settings, pool, now=now)


def test_a_500_is_retried_with_the_same_delivery_then_given_up(tmp_path: Path) -> None:
    hooks = Webhooks(tmp_path)
    with contextlib.contextmanager(receiver)([500, 500, 204]) as site:
        hooks.register(Hook("news", site.url, SECRET, "https://listen.example", 0.0))
        hooks.put(_event(), due=0.0)
        now = time.time()
        assert _pass(hooks, SETTINGS, now) == ["retrying"]
        assert _pass(hooks, SETTINGS, now + 5) == []  # not due: 10 s first
        assert _pass(hooks, SETTINGS, now + 11) == ["retrying"]
        assert _pass(hooks, SETTINGS, now + 30) == ["delivered"]
        assert hooks.pending() == {}
        verify = documented_verify()
        assert [r.headers["X-Listen-Delivery"] for r in site.received] == ["d1"] * 3
        for got in site.received:
            assert got.headers["X-Listen-Event"] == "audio.ready"
            assert verify(SECRET, got.headers["X-Listen-Signature"], got.body)
            assert json.loads(got.body)["article"] == {"id": "ab" * 32}
        log = hooks.deliveries("news")
        assert [(e["attempt"], e["status"], e["outcome"]) for e in log] == [
            (3, 204, "delivered"),
            (2, 500, "retrying"),
            (1, 500, "retrying"),
        ]
        assert log[2]["next_at"] == pytest.approx(log[2]["at"] + 10, abs=0.01)
        assert log[1]["next_at"] == pytest.approx(log[1]["at"] + 20, abs=0.01)

        hooks.put(_event(delivery="d2"), due=0.0)
        site.script[:] = [503]
        outcomes = [_pass(hooks, SETTINGS, time.time() + t) for t in (0, 100, 1000)]
        assert outcomes == [["retrying"], ["retrying"], ["gave_up"]]
        assert hooks.pending() == {}
        assert hooks.deliveries("news")[0]["outcome"] == "gave_up"


def test_loopback_is_refused_unless_allowed_and_a_removed_hook_drops_its_events(
    tmp_path: Path,
) -> None:
    hooks = Webhooks(tmp_path)
    with contextlib.contextmanager(receiver)([200]) as site:
        hooks.register(Hook("news", site.url, SECRET, "https://listen.example", 0.0))
        hooks.put(_event(), due=0.0)
        guarded = {**SETTINGS, "LISTEN_WEBHOOK_ALLOW_PRIVATE": False}
        assert _pass(hooks, guarded, time.time()) == ["retrying"]
        assert site.received == []
        assert hooks.deliveries("news")[0]["error"].startswith("url_not_allowed")
        assert hooks.remove("news")
        assert _pass(hooks, SETTINGS, time.time() + 100) == ["dropped"]
        assert site.received == [] and hooks.pending() == {}
