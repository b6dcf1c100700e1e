"""What a publisher's systems (a CMS, a publishing pipeline) do with Listen, with the
site's secret key (``publishers.auth``): submit many articles at once at publish time,
list the site's articles and their audio, delete an article's audio.

``POST /api/v1/sites/<site>/articles`` takes ``{"articles": [...]}``, each item what
``POST /api/v1/listen`` takes (``text`` or ``html``; ``url`` only as the batch's one
article, since a batch must not wait on many fetches), in the bulk lane unless it says otherwise.
``GET /api/v1/sites/<site>/articles`` lists them newest first;
``DELETE /api/v1/sites/<site>/articles/<id>`` removes an article's audio, its
job and its place in the list. Which articles a site has (``index``) is noted
by ``remember`` whenever the site asks for one, by either way. ``feed``: the
site's podcast, ``GET /feeds/<site>.xml``. ``/api/v1/sites/<site>/webhook``: where
the site is told its articles' audio is ready or failed (``listen_service.webhooks``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app

from listen_service.publishers.index import SiteIndex

bp = Blueprint("publishers", __name__, url_prefix="/api/v1")


def init_app(app: Flask) -> None:
    # Here, not at import: the routes use jobflow, which imports this package.
    from listen_service.publishers import articles, feed  # noqa: F401  (articles: routes on bp)
    from listen_service.webhooks import routes  # noqa: F401  (routes on bp)

    app.extensions["listen_site_index"] = SiteIndex(app.config["LISTEN_DATA_DIR"])
    app.register_blueprint(bp)
    app.register_blueprint(feed.feeds)


def site_index() -> SiteIndex:
    found: SiteIndex = current_app.extensions["listen_site_index"]
    return found


def remember(site: str, job_id: str, title: str | None, via: str, link: str | None = None) -> None:
    """Note that ``site`` asked for ``job_id`` (``via`` ``reader`` or ``publisher``; its
    page ``link`` if the publisher gave it); a failure to note it is logged, never the
    request's (its audio is made all the same).

    An article the site now sends with its secret key for the first time whose job
    has ended already (made before, or ended by a worker between this request's look
    at it and this note, when the worker could not know the site wanted it) is
    announced to the site's webhook here (``webhooks.events``)."""
    from listen_service.webhooks.events import announce  # here: it imports this package

    try:
        noted = site_index().add(site, job_id, title, via=via, link=link)
    except OSError as exc:
        current_app.logger.error("cannot note article %s of site %r: %s", job_id, site, exc)
        return
    if noted and via == "publisher":
        announce(current_app._get_current_object(), job_id, only_site=site)  # type: ignore[attr-defined]


def openapi_paths() -> dict[str, Any]:
    """The publisher API for ``/api/v1/openapi.json`` (``listen_service.openapi``)."""
    site = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"$ref": "#/components/schemas/Id"},
    }
    error = {"$ref": "#/components/responses/Error"}
    refused = {str(s): error for s in (401, 403, 404)}
    common = {"parameters": [site], "security": [{"siteAdminToken": []}]}
    batch = {
        "type": "object",
        "required": ["articles"],
        "properties": {
            "articles": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {"type": "object"},
                "description": (
                    "each what POST /api/v1/listen takes (text or html; url only as the one"
                    " article), and optionally link: the article's page (http/https), which"
                    " names it in the site's feed"
                ),
            }
        },
    }
    limit = {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    }
    return {
        "/api/v1/sites/{site}/articles": {
            "post": {
                **common,
                "summary": "Publisher: submit up to 100 articles (bulk lane), each answered",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": batch}},
                },
                "responses": {
                    "202": {
                        "description": "{articles: [job body or {error}], accepted, ready, failed}"
                    },
                    **refused,
                    **{str(s): error for s in (413, 415, 422)},
                },
            },
            "get": {
                **common,
                "parameters": [site, limit],
                "summary": "Publisher: the site's articles newest first, with their audio",
                "responses": {"200": {"description": "{articles, count}"}, "400": error, **refused},
            },
        },
        "/feeds/{site}.xml": {
            "get": {
                "parameters": [site],
                "summary": "A site's podcast feed (RSS 2.0, iTunes), newest first",
                "responses": {
                    "200": {"description": "the feed", "content": {"application/rss+xml": {}}},
                    "304": {"description": "not modified (If-None-Match)"},
                    "404": error,
                },
            }
        },
        "/api/v1/sites/{site}/articles/{job_id}": {
            "delete": {
                **common,
                "parameters": [site, job_id],
                "summary": "Publisher: delete an article's audio, job and listing",
                "responses": {"204": {"description": "deleted"}, "409": error, **refused},
            }
        },
    }
