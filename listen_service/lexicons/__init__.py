"""Each site's pronunciation lexicon: kept here, edited through the API, applied by workers.

``GET /api/v1/sites/<site>/lexicon`` answers the site's entries as JSON, or
as a PLS 1.0 document when ``Accept`` prefers ``application/pls+xml``;
``PUT`` replaces them with a JSON list of entries (``application/json``) or
a PLS document (``application/pls+xml``). Both need the site's secret admin
token (``LISTEN_SITE_ADMIN_TOKENS``, not its public key) as ``Authorization:
Bearer <token>``: none → 401, a wrong one → 403, a site not in
``LISTEN_SITE_KEYS`` → 404. Malformed XML → 400, invalid entries → 422
``invalid_lexicon`` naming the entry, another media type → 415.

``lexicon_for(site)`` is the web side's read: the lexicon to cut down with
``Lexicon.applicable`` and hand to the worker in the job's payload, so that
workers need no access to this store.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from listen_service.body import json_body, raw_body
from listen_service.errors import ApiError
from listen_service.lexicons.store import LexiconStore, open_lexicons
from listen_service.publishers.auth import require_site_secret
from workers.lexicon import ALPHABETS, Lexicon, LexiconError, MalformedDocument
from workers.lexicon.pls import MEDIA_TYPE as PLS

bp = Blueprint("lexicons", __name__, url_prefix="/api/v1")

JSON = "application/json"
# Media types a PLS document is accepted under besides its own.
XML_TYPES = (PLS, "application/xml", "text/xml")


def init_app(app: Flask) -> None:
    app.extensions["listen_lexicons"] = open_lexicons(
        app.config["LISTEN_REDIS_URL"], app.config["LISTEN_DATA_DIR"]
    )
    app.register_blueprint(bp)


def store() -> LexiconStore:
    lexicons: LexiconStore = current_app.extensions["listen_lexicons"]
    return lexicons


def lexicon_for(site: str | None) -> Lexicon:
    """The lexicon of ``site`` (empty for None, or for a site without one).

    A stored lexicon that no longer validates (after an upgrade narrowed a
    rule) is logged and not applied, rather than failing every article of the site.
    """
    if site is None:
        return Lexicon()
    try:
        return store().lexicon(site)
    except LexiconError as exc:
        current_app.logger.error("the lexicon of site %r is not applied: %s", site, exc)
        return Lexicon()


def _respond(lexicon: Lexicon) -> Response:
    if request.accept_mimetypes.best_match([JSON, PLS]) == PLS:
        response = Response(lexicon.to_pls(), mimetype=PLS)
    else:
        body = json.dumps(lexicon.to_json(), ensure_ascii=False)
        response = Response(body, mimetype=JSON)
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    response.headers["X-Listen-Lexicon-Entries"] = str(len(lexicon))
    return response


@bp.get("/sites/<site>/lexicon")
def get_lexicon(site: str) -> Response:
    require_site_secret(site)
    return _respond(store().lexicon(site))


@bp.put("/sites/<site>/lexicon")
def put_lexicon(site: str) -> Response:
    require_site_secret(site)
    if request.mimetype == JSON:
        lexicon = Lexicon.from_json(json_body())
    elif request.mimetype in XML_TYPES:
        try:
            lexicon = Lexicon.from_pls(raw_body())
        except MalformedDocument as exc:
            raise ApiError(400, exc.code, str(exc)) from None
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the lexicon as {JSON} (a list of entries) or {PLS} (a PLS 1.0 document)",
        )
    store().put(site, lexicon)
    current_app.logger.info("lexicon of site %r replaced: %d entries", site, len(lexicon))
    return _respond(lexicon)


def openapi_parts() -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI path item of the lexicon endpoints, and the schemas it refers to."""
    site = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
    entries = {"type": "array", "items": {"$ref": "#/components/schemas/LexiconEntry"}}
    errors = {"$ref": "#/components/responses/Error"}
    body = {
        "description": "the site's lexicon (PLS 1.0 when Accept prefers application/pls+xml)",
        "content": {JSON: {"schema": entries}, PLS: {"schema": {"type": "string"}}},
    }
    common = {"parameters": [site], "security": [{"siteAdminToken": []}]}
    path = {
        "get": {
            **common,
            "summary": "A site's pronunciation lexicon (see docs/lexicons.md)",
            "responses": {"200": body, **{str(s): errors for s in (401, 403, 404, 503)}},
        },
        "put": {
            **common,
            "summary": "Replace a site's pronunciation lexicon (an empty list removes it)",
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": entries}, PLS: {"schema": {"type": "string"}}},
            },
            "responses": {
                "200": body,
                **{str(s): errors for s in (400, 401, 403, 404, 413, 415, 422, 503, 507)},
            },
        },
    }
    entry = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "graphemes": {"type": "array", "items": {"type": "string"}},
            "grapheme": {"type": "string"},
            "alias": {"type": "string"},
            "phoneme": {"type": "string"},
            "alphabet": {"type": "string", "enum": list(ALPHABETS)},
        },
    }
    schemas = {"LexiconEntry": entry}
    return path, schemas
