"""``/ops``: the operator's console, one server-rendered page that refreshes itself.

What is queued (per lane), what runs where (workers and their current jobs),
what failed and why (the failures view, with **Retry**), **Cancel** for a
queued or working job, the last hour's throughput and time to first audio
(inline SVG, ``charts``), the cache, and how much each site's articles are
listened to (``analytics``). It works without JavaScript: the
buttons are forms, the refresh is a ``<meta http-equiv="refresh">``
(``?refresh=off`` pauses it). Access as for the operator API, plus a login
form that sets a session cookie (``session``); its buttons carry a CSRF token.

Routes: ``GET /ops``, ``GET|POST /ops/login``, ``POST /ops/logout``,
``POST /ops/jobs/<id>/retry`` and ``POST /ops/jobs/<id>/cancel``. A client
that does not ask for HTML gets the errors in the API's JSON shape.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Response, current_app, jsonify, redirect, render_template, request, url_for
from redis.exceptions import RedisError
from werkzeug.wrappers import Response as BaseResponse

from listen_service import analytics
from listen_service.errors import ApiError, error_response
from listen_service.ops import bp, charts, jobs, session
from listen_service.ops.activity import LOOK_BACK_S, last_hour, percentile
from listen_service.ops.auth import check_token, enabled
from listen_service.ops.health import health
from listen_service.ops.metrics import counter_totals
from listen_service.ops.workers import worker_list
from listen_service.webhooks.store import Webhooks
from workers.jobs import STATUSES

PAGE_LIMIT = 100
CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
DONE = {
    "retried": "Retried: the job is queued again.",
    "cancelled": "Cancelled.",
    "cancelling": "Cancelling: its worker stops within a second.",
}


@bp.app_template_filter("ops_seconds")
def seconds(value: float | None) -> str:
    """A duration as an operator reads it: ``0.28 s``, ``12.4 s``, ``7 min``, ``3.1 h``."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


@bp.app_template_filter("ops_bytes")
def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


@bp.app_template_filter("ops_clock")
def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


def wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _page(html: str, status: int = 200) -> Response:
    response = Response(html, status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _refused(exc: ApiError) -> Response:
    """A request without a valid login: the login form for a browser, else JSON."""
    if exc.status == 404 or not wants_html():
        return _error(exc)
    failed = exc.message if exc.code == "wrong_ops_token" else None
    page = _page(render_template("ops_login.html", error=failed), exc.status)
    page.headers.update(exc.headers)
    return page


def _query(status: str | None, site: str | None, **more: str) -> str:
    args = {k: v for k, v in (("status", status), ("site", site), *more.items()) if v}
    return f"?{urlencode(args)}" if args else ""


def _cache(report: dict[str, Any]) -> dict[str, Any]:
    totals = counter_totals(current_app, {"listen_cache_requests", "listen_cache_evictions"})
    hits = totals.get(("listen_cache_requests", ("hit",)), 0.0)
    misses = totals.get(("listen_cache_requests", ("miss",)), 0.0)
    return {
        **report["cache"],
        "hits": int(hits),
        "misses": int(misses),
        "hit_ratio": hits / (hits + misses) if hits + misses else None,
        # Counted by workers: here only when their metrics files are (no port of their own).
        "evictions": None
        if current_app.config["LISTEN_WORKER_METRICS_PORT"]
        else int(totals.get(("listen_cache_evictions", ()), 0.0)),
    }


T = TypeVar("T")
WEBHOOK_ROWS = 1
"""Attempts shown per webhook: its last (the operator API has 20)."""


def _or_none(what: str, read: Callable[[], T]) -> T | None:
    """``read()``, or None (the page says "unreachable") when the store behind it fails."""
    try:
        return read()
    except (RedisError, OSError, sqlite3.Error) as exc:
        current_app.logger.warning("ops console: %s unreachable: %s", what, exc)
        return None


def render_console(status: str | None, site: str | None, error: ApiError | None = None) -> str:
    """The page; a part whose store is unreachable says so, the rest is shown."""
    app = current_app
    now = time.time()
    report, ok = health(app)
    store = app.extensions["listen_jobs"]
    hour = _or_none("job store", lambda: last_hour(store.accepted_since(now - LOOK_BACK_S), now))
    listed = _or_none("job store", lambda: jobs.rows(status, site, PAGE_LIMIT))
    workers = _or_none(
        "worker registry", lambda: worker_list(app.extensions["listen_workers"], app.config)
    )
    hooks = _or_none(
        "data directory", lambda: Webhooks(app.config["LISTEN_DATA_DIR"]).overview(WEBHOOK_ROWS)
    )
    listening = _or_none("analytics store", analytics.site_totals)
    paused = request.values.get("refresh") == "off"
    return render_template(
        "ops.html",
        webhooks=hooks,
        ok=ok,
        report=report,
        workers=workers,
        jobs=listed,
        reasons=Counter((j["error"] or {}).get("code", "?") for j in listed if j["error"])
        if status == "failed" and listed is not None
        else None,
        status=status,
        site=site,
        statuses=STATUSES,
        hour=hour,
        first_audio_p50=percentile(hour.first_audio, 0.5) if hour else None,
        first_audio_p95=percentile(hour.first_audio, 0.95) if hour else None,
        synthesis_p95=percentile(hour.synthesis_s, 0.95) if hour else None,
        throughput=charts.throughput(hour) if hour else None,
        latency=charts.latency(hour) if hour else None,
        cache=_cache(report),
        listening=listening,
        csrf=session.csrf_token(),
        flower=app.config["LISTEN_FLOWER_URL"],
        refresh_s=0 if paused else app.config["LISTEN_OPS_REFRESH_SECONDS"],
        paused=paused,
        here=_query(status, site),
        pause=_query(status, site, refresh="off"),
        done=DONE.get(request.args.get("done", "")),
        done_job=request.args.get("job", ""),
        error=error,
        now=now,
        page_limit=PAGE_LIMIT,
    )


@bp.get("/ops")
def console() -> Response:
    try:
        session.operator()
    except ApiError as exc:
        return _refused(exc)
    site = request.args.get("site") or None
    try:
        status = jobs.status_of(request.args.get("status"))
    except ApiError as exc:  # the page unfiltered, saying why
        if not wants_html():
            return _error(exc)
        return _page(render_console(None, site, exc), exc.status)
    return _page(render_console(status, site))


def _error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@bp.get("/ops/login")
def login_form() -> Response:
    if not enabled():
        return _error(ApiError(404, "ops_disabled", "the console is off: set LISTEN_OPS_TOKEN"))
    return _page(render_template("ops_login.html", error=None))


@bp.post("/ops/login")
def login() -> BaseResponse:
    if not enabled():
        return _error(ApiError(404, "ops_disabled", "the console is off: set LISTEN_OPS_TOKEN"))
    if not check_token(request.form.get("token", "").strip()):
        current_app.logger.warning("ops console: a login with a wrong token")
        return _refused(ApiError(403, "wrong_ops_token", "this is not the operator token"))
    response = redirect(url_for("ops.console"), 303)
    session.start(response)
    return response


@bp.post("/ops/logout")
def logout() -> BaseResponse:
    try:
        session.require_csrf(session.operator())
    except ApiError as exc:
        return _refused(exc) if exc.status in (401, 404) else _error(exc)
    # The cookie is signed, not stored: a copy of it stays valid until it
    # expires or the token changes (docs/operations.md).
    response = redirect(url_for("ops.login_form"), 303)
    session.end(response)
    return response


@bp.post("/ops/jobs/<job_id>/retry")
def console_retry(job_id: str) -> BaseResponse:
    return _act(job_id, "retry")


@bp.post("/ops/jobs/<job_id>/cancel")
def console_cancel(job_id: str) -> BaseResponse:
    return _act(job_id, "cancel")


def _act(job_id: str, action: str) -> BaseResponse:
    """A button: ``retry`` or ``cancel``; back to the page it came from (303)."""
    site = request.form.get("site") or None
    try:
        how = session.operator()
    except ApiError as exc:
        return _refused(exc)
    try:
        status = jobs.status_of(request.form.get("status"))
    except ApiError:
        status = None  # a form we did not make: back to the unfiltered page
    try:
        session.require_csrf(how)
        if action == "retry":
            job, done = jobs.retry(job_id), "retried"
        else:
            job = jobs.cancel(job_id)
            done = "cancelling" if job.status == "working" else "cancelled"
    except ApiError as exc:
        if not wants_html():
            return _error(exc)
        return _page(render_console(status, site, exc), exc.status)
    if not wants_html():  # as the operator API answers
        body, code = jobs.answer(job, retried=action == "retry")
        answered = jsonify(body)
        answered.status_code = code
        return answered
    refresh = request.form.get("refresh") or ""
    back = _query(status, site, refresh=refresh if refresh == "off" else "", done=done, job=job_id)
    return redirect(url_for("ops.console") + back, 303)


def openapi_paths() -> dict[str, Any]:
    """The console's routes for ``/api/v1/openapi.json`` (``listen_service.openapi``)."""
    html: dict[str, Any] = {"content": {"text/html": {}}}
    error = {"$ref": "#/components/responses/Error"}
    refused = {"401": error, "403": error, "404": error}
    security: list[dict[str, list[str]]] = [{"opsToken": []}, {"opsSession": []}]
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"$ref": "#/components/schemas/Id"},
    }

    def form(*fields: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
        schema = {
            "type": "object",
            "properties": {f: {"type": "string"} for f in fields},
            "required": list(required),
        }
        return {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}

    def button(summary: str) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "security": security,
                "parameters": [job_id],
                "requestBody": form("csrf", "status", "site"),
                "responses": {
                    "200": {"description": "{job} (Bearer clients)"},
                    "303": {"description": "back to the console, saying what was done"},
                    **refused,
                    **{str(s): error for s in (409, 429, 503, 507)},
                },
            }
        }

    return {
        "/ops": {
            "get": {
                "summary": "The operator's console (HTML; docs/operations.md)",
                "security": security,
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                    {"name": "site", "in": "query", "schema": {"type": "string"}},
                    {"name": "refresh", "in": "query", "schema": {"enum": ["off"]}},
                ],
                "responses": {"200": {"description": "the page", **html}, "400": error, **refused},
            }
        },
        "/ops/login": {
            "get": {
                "summary": "The console's login form",
                "responses": {"200": {"description": "the form", **html}, "404": error},
            },
            "post": {
                "summary": "Log in with LISTEN_OPS_TOKEN: a session cookie, back to /ops",
                "requestBody": form("token", required=("token",)),
                "responses": {"303": {"description": "logged in"}, "403": error, "404": error},
            },
        },
        "/ops/logout": {
            "post": {
                "summary": "End the console session",
                "security": security,
                "requestBody": form("csrf"),
                "responses": {"303": {"description": "logged out"}, **refused},
            }
        },
        "/ops/jobs/{job_id}/retry": button("The console's Retry button"),
        "/ops/jobs/{job_id}/cancel": button("The console's Cancel button"),
    }
