"""``/api/v1/sites/<site>/articles``: submit a batch, list, delete (see the package)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, request

from audio_cache import AudioCache
from listen_service import jobflow, publishers, validation
from listen_service.audio import audio_url
from listen_service.body import json_body
from listen_service.errors import ApiError
from listen_service.publishers import bp
from listen_service.publishers.auth import require_site_secret

MAX_BATCH = 100
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_LINK = 2000


@bp.post("/sites/<site>/articles")
def submit(site: str) -> tuple[dict[str, Any], int]:
    """Each item accepted or answered on its own: ``{articles: [result…], accepted,
    ready, failed}``, a result being the item's job body or ``{error}``."""
    require_site_secret(site)
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the articles as application/json")
    body = json_body()
    items = body.get("articles") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ApiError(
            422, "invalid_field", f'send {{"articles": [...]}} with 1 to {MAX_BATCH} articles'
        )
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            if isinstance(item, dict) and "url" in item and len(items) > 1:
                # Fetched inside the request: one page at a time, never a batch's worth.
                raise ApiError(
                    422, "invalid_field", "a url must be a batch's only article; send it alone"
                )
            fields = {"priority": "bulk", **item} if isinstance(item, dict) else item
            link = _link(fields)
            payload = validation.payload_of(fields, site)
            _, answer = jobflow.submit(payload, site, via="publisher", link=link)
        except ApiError as exc:  # this article only
            results.append({"error": {"code": exc.code, "message": exc.message}})
            continue
        results.append(answer)
    counts = {
        "accepted": sum(1 for r in results if r.get("status") in ("queued", "working")),
        "ready": sum(1 for r in results if r.get("status") == "ready"),
        "failed": sum(1 for r in results if "error" in r),
    }
    current_app.logger.info("site %r submitted %d articles: %s", site, len(items), counts)
    return {"articles": results, **counts}, 202


def _link(fields: Any) -> str | None:
    """The article's page (``link``, taken out of ``fields``, else its ``url``): what
    the site's feed names it by, across re-renders. ``ApiError`` 422 if not http(s)."""
    if not isinstance(fields, dict):
        return None
    link = fields.pop("link", None)
    if link is None:
        url = fields.get("url")
        return url if isinstance(url, str) else None
    parts = urlsplit(link) if isinstance(link, str) and len(link) <= MAX_LINK else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(
            422, "invalid_field", f"link must be an http(s) URL of at most {MAX_LINK} characters"
        )
    return str(link)


@bp.get("/sites/<site>/articles")
def listing(site: str) -> dict[str, Any]:
    """The site's articles, newest first, each with the state of its audio."""
    require_site_secret(site)
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number within 1..{MAX_LIMIT}")
    cache: AudioCache = current_app.extensions["listen_cache"]
    store = jobflow.store()
    found = []
    for article in publishers.site_index().articles(site)[: int(raw)]:
        entry = cache.peek(article.id)
        row: dict[str, Any] = article.as_dict()
        if entry is not None:
            row.update(status="ready", duration_s=entry.duration_s, bytes=entry.bytes)
            row["audio_url"] = audio_url(entry)
        else:
            job = store.get(article.id)
            # No audio and no job: evicted, or its record expired.
            row["status"] = job.status if job is not None else "gone"
        found.append(row)
    return {"articles": found, "count": len(found)}


@bp.delete("/sites/<site>/articles/<job_id>")
def delete(site: str, job_id: str) -> Response:
    """The article's audio, its job (stopped if it runs) and its place in the list: 204."""
    require_site_secret(site)
    if publishers.site_index().get(site, job_id) is None:
        raise ApiError(404, "not_found", "this site has no article with this id")
    store = jobflow.store()
    if store.cancel(job_id) == "working" and store.lease_held(job_id):
        # Its worker stops within a second; what it made is never committed.
        deadline = time.monotonic() + 5
        while (job := store.get(job_id)) is not None and job.status == "working":
            if time.monotonic() > deadline:
                raise ApiError(409, "still_working", "the article is being made; try again")
            time.sleep(0.1)
    current_app.extensions["listen_cache"].delete(job_id)
    store.forget(job_id)
    publishers.site_index().remove(site, job_id)
    current_app.logger.info("site %r deleted article %s", site, job_id)
    return Response(status=204)
