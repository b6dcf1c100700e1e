"""``/api/v1/sites/<site>/webhook`` (the site's secret key) and ``/api/v1/ops/webhooks``
(the operator token): register, read, remove a webhook; see its deliveries."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from flask import Response, current_app, request

from listen_service.body import json_body
from listen_service.embeds import public_base
from listen_service.errors import ApiError
from listen_service.ingest.fetch import FetchError, address_allowed, check_url
from listen_service.ops.auth import operator_only
from listen_service.publishers import bp
from listen_service.publishers.auth import require_site_secret
from listen_service.webhooks.signing import new_secret
from listen_service.webhooks.store import Hook, Webhooks

MAX_URL = 2000
SHOWN = 20
"""Deliveries shown with a webhook: the newest attempts."""


def webhooks() -> Webhooks:
    return Webhooks(current_app.config["LISTEN_DATA_DIR"])


def _valid_url(raw: Any) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_URL:
        raise ApiError(
            422, "invalid_field", f'send {{"url": "https://…"}}, at most {MAX_URL} chars'
        )
    try:
        _, host, _, _ = check_url(raw)
    except FetchError as exc:
        raise ApiError(422, "invalid_webhook_url", exc.message) from None
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return raw  # a name: checked at each delivery, as names may move
    allow = current_app.config["LISTEN_WEBHOOK_ALLOW_PRIVATE"]
    if not address_allowed(literal, allow_private=allow):
        raise ApiError(422, "invalid_webhook_url", f"{literal} is an address webhooks never reach")
    return raw


def _answer(hook: Hook) -> dict[str, Any]:
    return {
        "site": hook.site,
        **hook.as_dict(),
        "deliveries": webhooks().deliveries(hook.site, SHOWN),
    }


@bp.put("/sites/<site>/webhook")
def register(site: str) -> tuple[dict[str, Any], int]:
    """Set the site's webhook URL. A new webhook gets a new signing secret; changing the
    URL keeps it unless ``"rotate_secret": true``. 201 for a new one, else 200."""
    require_site_secret(site)
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the webhook as application/json")
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_field", 'send {"url": "https://…"}')
    url = _valid_url(body.get("url"))
    rotate = body.get("rotate_secret", False)
    if not isinstance(rotate, bool):
        raise ApiError(422, "invalid_field", "rotate_secret is true or false")
    known = webhooks().hook(site)
    secret = known.secret if known is not None and not rotate else new_secret()
    created = known.created if known is not None else time.time()
    hook = Hook(site, url, secret, public_base(), created)
    webhooks().register(hook)
    current_app.logger.info("site %r set its webhook to %s", site, url)
    return _answer(hook), 200 if known is not None else 201


@bp.get("/sites/<site>/webhook")
def show(site: str) -> dict[str, Any]:
    require_site_secret(site)
    hook = webhooks().hook(site)
    if hook is None:
        raise ApiError(404, "no_webhook", "this site has no webhook; PUT one")
    return _answer(hook)


@bp.delete("/sites/<site>/webhook")
def remove(site: str) -> Response:
    """204; events not yet delivered are dropped."""
    require_site_secret(site)
    if not webhooks().remove(site):
        raise ApiError(404, "no_webhook", "this site has no webhook")
    current_app.logger.info("site %r removed its webhook", site)
    return Response(status=204)


@bp.get("/ops/webhooks")
@operator_only
def ops_list() -> dict[str, Any]:
    found = webhooks().overview(SHOWN)
    return {"webhooks": found, "count": len(found)}


def openapi_paths() -> dict[str, Any]:
    """These routes for ``/api/v1/openapi.json`` (``listen_service.openapi``)."""
    site = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
    error = {"$ref": "#/components/responses/Error"}
    refused = {str(s): error for s in (401, 403, 404)}
    common = {"parameters": [site], "security": [{"siteAdminToken": []}]}
    hook = {"description": "{site, url, secret, created, deliveries: [attempt…] newest first}"}
    schema = {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "maxLength": MAX_URL, "description": "http(s) URL"},
            "rotate_secret": {"type": "boolean", "default": False},
        },
    }
    return {
        "/api/v1/sites/{site}/webhook": {
            "put": {
                **common,
                "summary": "Publisher: set the URL audio.ready / audio.failed events are POSTed to",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
                "responses": {
                    "200": hook,
                    "201": hook,
                    **refused,
                    **{str(s): error for s in (413, 415, 422)},
                },
            },
            "get": {
                **common,
                "summary": "Publisher: the site's webhook, its secret and its last deliveries",
                "responses": {"200": hook, **refused},
            },
            "delete": {
                **common,
                "summary": "Publisher: remove the webhook (undelivered events are dropped)",
                "responses": {"204": {"description": "removed"}, **refused},
            },
        },
        "/api/v1/ops/webhooks": {
            "get": {
                "security": [{"opsToken": []}],
                "summary": "Operator: every webhook, its pending events and last deliveries",
                "responses": {
                    "200": {"description": "{webhooks: [{site, url, pending, deliveries}], count}"},
                    **{str(s): error for s in (401, 403, 404)},
                },
            }
        },
    }
