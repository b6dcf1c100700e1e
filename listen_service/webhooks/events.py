"""The events a job's end makes: ``audio.ready`` or ``audio.failed``, one per site whose
webhook is registered and that sent the article with its secret key (as its feed's
episodes are chosen: anyone can send a site's public key).

``announce`` is called by the process that ended the job (a worker; the web for an
operator's cancel of a job no worker holds), right after it wrote
the job's end; it only writes outbox files (``store``), never sends, and any
error is logged and swallowed: a webhook never delays nor fails a synthesis.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from flask import Flask

from audio_cache import AudioCache
from listen_service.embeds import job_links
from listen_service.errors import public_job_error
from listen_service.publishers.index import SiteIndex
from listen_service.webhooks.store import Hook, Webhooks
from workers.jobs import Job, JobStore

log = logging.getLogger(__name__)


def announce(app: Flask, job_id: str, only_site: str | None = None) -> int:
    """Queue the events for ``job_id``'s end, as its record now says (for ``only_site``
    alone if given); how many. None for a job that has not ended."""
    try:
        return _announce(app, job_id, only_site)
    except Exception:  # never the job's failure
        log.error("could not queue the webhook events of job %s", job_id, exc_info=True)
        return 0


def _announce(app: Flask, job_id: str, only_site: str | None) -> int:
    data_dir = app.config["LISTEN_DATA_DIR"]
    outbox = Webhooks(data_dir)
    if only_site is None:
        hooks = list(outbox.hooks())
    else:
        hook = outbox.hook(only_site)
        hooks = [hook] if hook is not None else []
    if not hooks:
        return 0
    store: JobStore = app.extensions["listen_jobs"]
    job = store.get(job_id)
    if job is None or job.status not in ("ready", "failed"):
        return 0
    index = SiteIndex(data_dir)
    cache: AudioCache = app.extensions["listen_cache"]
    now = time.time()
    queued = 0
    for hook in hooks:
        article = index.get(hook.site, job_id)
        if article is None or article.via != "publisher":
            continue
        outbox.put(build(hook, job, article.title, cache, now), now)
        queued += 1
    if queued:
        log.info("queued %d webhook event(s) for job %s", queued, job_id)
    return queued


def build(hook: Hook, job: Job, title: str | None, cache: AudioCache, now: float) -> dict[str, Any]:
    """The outbox record: ``body`` is what is POSTed, the same bytes on every attempt."""
    entry = cache.peek(job.id) if job.status == "ready" else None
    links = job_links(job.id, entry.fmt if entry is not None else "", hook.base)
    article: dict[str, Any] = {
        "id": job.id,
        "site": hook.site,
        "title": title if title is not None else job.title,
        "status": job.status,
        "status_url": links["status_url"],
    }
    if entry is not None:
        article.update(
            duration_s=entry.duration_s,
            audio_url=links["audio_url"],
            timings_url=links["timings_url"],
            embed_url=links["embed_url"],
        )
    else:  # failed, or ready but evicted already: nothing to listen to
        article["status"] = "failed"
        article["error"] = public_job_error(job.error or {"code": "listen_error"})
    event_name = f"audio.{article['status']}"
    # The same for any process announcing the same end (a worker, and the web noting
    # the site's key at that moment): a receiver ignoring repeats sees one.
    seed = f"{hook.site}\n{job.id}\n{event_name}\n{job.updated!r}"
    delivery = hashlib.sha256(seed.encode()).hexdigest()[:32]
    body = {"event": event_name, "delivery": delivery, "created": now, "article": article}
    return {
        "delivery": delivery,
        "event": event_name,
        "site": hook.site,
        "job_id": job.id,
        "attempts": 0,
        "body": body,
    }
