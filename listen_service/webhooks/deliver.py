"""Sending the outbox's events: a thread in every worker's main process (never in the
pool processes, which synthesise), started when the worker is ready, as the sweep is.

Each pass puts back events whose worker died mid-attempt, claims the due ones
(``Webhooks.claim``: one worker per attempt) and POSTs them, at most
``PARALLEL`` at once, each within ``LISTEN_WEBHOOK_TIMEOUT_SECONDS`` and behind
the URL fetcher's SSRF guard (``LISTEN_WEBHOOK_ALLOW_PRIVATE`` lifts it for
tests and intranets). A 2xx answer is delivered; anything else (another status,
no answer, a refused address) is tried again after ``signing.retry_delay``, up to
``LISTEN_WEBHOOK_ATTEMPTS`` attempts, then given up. Every attempt is a line in
the site's deliveries log and in the worker's log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask

from listen_service.ingest.fetch import FetchError, post
from listen_service.webhooks.signing import retry_delay, signature
from listen_service.webhooks.store import Webhooks
from workers.sweeper import in_main_process

log = logging.getLogger(__name__)

PARALLEL = 4
IDLE_S = 0.5
"""How long a pass that found nothing due waits before the next."""
BATCH = 64


def attempt(hooks: Webhooks, claimed: Path, event: dict[str, Any], settings: dict[str, Any]) -> str:
    """One attempt at ``event`` (claimed by this process): ``delivered``, ``retrying``,
    ``gave_up`` or ``dropped`` (the site's webhook was removed meanwhile)."""
    site = event["site"]
    hook = hooks.hook(site)
    if hook is None:
        claimed.unlink()
        log.info("webhook delivery %s dropped: site %r has no webhook now", event["delivery"], site)
        return "dropped"
    body = json.dumps(event["body"], ensure_ascii=False, separators=(",", ":")).encode()
    began = time.time()
    headers = {
        "Content-Type": "application/json",
        "X-Listen-Event": event["event"],
        "X-Listen-Delivery": event["delivery"],
        "X-Listen-Signature": signature(hook.secret, body, int(began)),
    }
    status: int | None = None
    error: str | None = None
    try:
        status = post(
            hook.url,
            body,
            headers,
            timeout=settings["LISTEN_WEBHOOK_TIMEOUT_SECONDS"],
            allow_private=settings["LISTEN_WEBHOOK_ALLOW_PRIVATE"],
        )
    except FetchError as exc:
        error = f"{exc.code}: {exc.message}"
    took_ms = round((time.time() - began) * 1000, 1)
    attempts = int(event["attempts"]) + 1
    entry = {
        "delivery": event["delivery"],
        "event": event["event"],
        "job_id": event["job_id"],
        "attempt": attempts,
        "at": began,
        "url": hook.url,
        "status": status,
        "error": error,
        "took_ms": took_ms,
    }
    if status is not None and 200 <= status < 300:
        outcome = "delivered"
    elif attempts >= settings["LISTEN_WEBHOOK_ATTEMPTS"]:
        outcome = "gave_up"
    else:
        outcome = "retrying"
        entry["next_at"] = began + retry_delay(attempts, settings["LISTEN_WEBHOOK_RETRY_SECONDS"])
    entry["outcome"] = outcome
    # Logged before the event leaves the outbox or goes back: what waits is logged.
    try:
        hooks.log(site, entry)
    except OSError:  # the attempt stands; the worker's log line below has it
        log.warning("could not log webhook delivery %s", event["delivery"], exc_info=True)
    if outcome == "retrying":
        hooks.again(claimed, {**event, "attempts": attempts}, entry["next_at"])
    else:
        claimed.unlink()
    log.log(
        logging.INFO if outcome == "delivered" else logging.WARNING,
        "webhook %s %s of job %s to %s: attempt %d %s (%s)",
        event["delivery"],
        event["event"],
        event["job_id"],
        hook.url,
        attempts,
        outcome,
        status if status is not None else error,
    )
    return outcome


def deliver_due(
    hooks: Webhooks, settings: dict[str, Any], pool: ThreadPoolExecutor, now: float | None = None
) -> list[str]:
    """One pass: every due event this process could claim, attempted; their outcomes."""
    now = time.time() if now is None else now
    hooks.recover(older_than_s=max(60.0, 4 * settings["LISTEN_WEBHOOK_TIMEOUT_SECONDS"]), now=now)
    claims = [c for c in map(hooks.claim, hooks.due(now, BATCH)) if c is not None]
    return list(pool.map(lambda c: _safely(hooks, c[0], c[1], settings), claims))


def _safely(hooks: Webhooks, claimed: Path, event: dict[str, Any], settings: dict[str, Any]) -> str:
    try:
        return attempt(hooks, claimed, event, settings)
    except Exception:  # the data dir failed: ``recover`` puts the event back later
        log.error("webhook delivery %s failed", event.get("delivery"), exc_info=True)
        return "error"


def _run(app: Flask, stop: threading.Event) -> None:
    # Here, in the worker's main process: its metrics directory is claimed by now.
    from workers.metrics import WEBHOOK_DELIVERIES

    hooks = Webhooks(app.config["LISTEN_DATA_DIR"])
    settings = dict(app.config)
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="listen-webhook") as pool:
        while not stop.is_set():
            try:
                done = deliver_due(hooks, settings, pool)
            except Exception:
                log.warning("the webhook pass failed", exc_info=True)
                done = []
            for outcome in done:
                WEBHOOK_DELIVERIES.labels(outcome).inc()
            if not done and stop.wait(IDLE_S):
                return


def install(app: Flask) -> None:
    """Send webhook events from this worker's main process while it runs."""
    in_main_process(app, _run, "listen-webhooks")
