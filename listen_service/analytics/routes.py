"""The analytics routes (on ``analytics.bp``): a player's events in, a site's figures out."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from listen_service import limits, publishers
from listen_service.analytics import bp, enabled, events, store
from listen_service.analytics.stats import site_stats
from listen_service.errors import ApiError
from listen_service.publishers.auth import require_site_secret


@bp.post("/events", endpoint="events")
def post_event() -> Response:
    site, job_id, kind, pct = events.parse()
    if not enabled(site):
        raise ApiError(403, "analytics_off", "listening analytics are switched off for this site")
    limits.hit("LISTEN_RATE_LIMIT_SITE_EVENTS", "events-site", site)
    article = publishers.site_index().get(site, job_id)
    if article is None:
        raise ApiError(422, "unknown_article", "this site has asked for no article with this id")
    duration_s = 0.0
    if kind == "progress":
        duration_s = _duration(job_id, article.audio)
    store().add(site, job_id, events.counts(kind, pct, duration_s))
    return Response(status=204)


def _duration(job_id: str, audio: dict[str, Any] | None) -> float:
    """The audio's length as the server knows it (its listing, else the cache); 0 if gone."""
    if audio and audio.get("duration_s"):
        return float(audio["duration_s"])
    entry = current_app.extensions["listen_cache"].peek(job_id)
    return float(entry.duration_s) if entry is not None else 0.0


@bp.get("/sites/<site>/stats")
def site_stats_view(site: str) -> dict[str, Any]:
    require_site_secret(site)
    titles = {a.id: a.title for a in publishers.site_index().articles(site)}
    return site_stats(site, store().site(site), titles)
