"""Listening analytics, privacy first: how much each site's articles are listened to.

``POST /api/v1/events`` takes one event from a player (``events``): a play,
25/50/75/100 % of the audio reached, a speed change, a download. It counts them
(``store``) per site and article and keeps nothing else: no address, user agent,
cookie or time of an event. Bodies over ``events.MAX_EVENT_BYTES`` are 413; rates
per client address and per site are bounded (``limits``); an article the site
never asked audio for is 422, so a key alone cannot fill the figures with made-up
ids. ``GET /api/v1/sites/<site>/stats`` gives the site's figures (``stats``) with
its secret key.

Off for every site with ``LISTEN_ANALYTICS=false``, for some with
``LISTEN_ANALYTICS_OFF_SITES``: their events are refused (403 ``analytics_off``)
and, since ``POST /api/v1/listen`` then leaves ``events_url`` out of its answer,
their players send none. A page may also switch its player's off
(``data-analytics="off"``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app

from listen_service.analytics import events
from listen_service.analytics.stats import totals
from listen_service.analytics.store import AnalyticsStore, open_analytics
from listen_service.embeds import absolute

bp = Blueprint("analytics", __name__, url_prefix="/api/v1")
EVENTS_PATH = "/api/v1/events"


def init_app(app: Flask) -> None:
    """Before ``limits.init_app``, which bounds the events route's rate."""
    # Here, not at import: the routes use publishers.auth, whose imports lead back here.
    from listen_service.analytics import routes  # noqa: F401  (routes on bp)

    app.extensions["listen_analytics"] = open_analytics(app.config)
    app.register_blueprint(bp)


def store() -> AnalyticsStore:
    """The counters (``store``): Redis in Redis mode, SQLite in the data directory else."""
    return current_app.extensions["listen_analytics"]  # type: ignore[no-any-return]


def enabled(site: str | None) -> bool:
    """Whether ``site``'s listening is counted (never without a site: nothing to count under)."""
    config = current_app.config
    off: tuple[str, ...] = config["LISTEN_ANALYTICS_OFF_SITES"]
    return bool(site and config["LISTEN_ANALYTICS"] and site not in off)


def advertise(body: dict[str, Any], site: str | None) -> None:
    """Tell the player of ``site`` where to report listening, if it is to (a job body)."""
    if enabled(site):
        body["events_url"] = absolute(EVENTS_PATH)


def site_totals() -> list[dict[str, Any]]:
    """Each configured site's figures in total, for the operators' console."""
    sites = sorted(set(current_app.config["LISTEN_SITE_KEYS"].values()))
    return [{"site": s, "on": enabled(s), **totals(store().site(s))} for s in sites]


def openapi_paths() -> dict[str, Any]:
    """The analytics routes for ``/api/v1/openapi.json`` (``listen_service.openapi``)."""
    error = {"$ref": "#/components/responses/Error"}
    event = {
        "type": "object",
        "required": ["key", "id", "type"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string", "description": "the site's public key"},
            "id": {"$ref": "#/components/schemas/Id"},
            "type": {"enum": list(events.TYPES)},
            "pct": {"enum": list(events.MILESTONES), "description": "progress events only"},
        },
    }
    content = {t: {"schema": event} for t in events.MEDIA_TYPES}
    site = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        EVENTS_PATH: {
            "post": {
                "summary": "A player's listening event (sendBeacon); counted, nothing else kept",
                "requestBody": {"required": True, "content": content},
                "responses": {
                    "204": {"description": "counted"},
                    **{str(s): error for s in (400, 401, 403, 413, 415, 422, 429)},
                },
            }
        },
        "/api/v1/sites/{site}/stats": {
            "get": {
                "parameters": [site],
                "security": [{"siteAdminToken": []}],
                "summary": "Publisher: the site's listening figures, in total and per article",
                "responses": {
                    "200": {"description": "{site, totals, articles}"},
                    **{str(s): error for s in (401, 403, 404)},
                },
            }
        },
    }
