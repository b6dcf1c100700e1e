"""What one client may cost: request rates (Flask-Limiter) and waits held at once (``Holds``).

- ``POST /api/v1/listen`` is limited per client address
  (``LISTEN_RATE_LIMIT_POST``) and per site key (``LISTEN_RATE_LIMIT_SITE``).
- Event streams and long polls (``GET /api/v1/jobs/<id>`` with ``?wait=``)
  share one budget per client address (``LISTEN_RATE_LIMIT_STREAMS``) and
  one per site key (``LISTEN_RATE_LIMIT_SITE``, counted apart from POSTs).
- Listening events (``POST /api/v1/events``) are limited per client address
  (``LISTEN_RATE_LIMIT_EVENTS``) and, since a beacon carries its site's key in
  its body, per site by the view itself through ``hit`` (``LISTEN_RATE_LIMIT_SITE_EVENTS``).
- Podcast feeds (``GET /feeds/<site>.xml``, public) per client address
  (``LISTEN_RATE_LIMIT_FEEDS``).
- Over a rate → ``429`` with ``Retry-After`` in the one JSON error shape.

Counts live in Redis in Redis mode (shared by every web process) and in
memory in embedded mode (one process). When Redis cannot be reached the
limiter falls back to memory rather than failing requests.

The client address is the connecting one, or, behind ``LISTEN_PROXY_HOPS``
trusted reverse proxies, the one they report in ``X-Forwarded-For``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import limits as limits_lib
from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.middleware.proxy_fix import ProxyFix

from listen_service.config import RATE_SETTINGS, embedded
from listen_service.errors import ApiError, error_response
from listen_service.holds import Holds
from workers.errors import ConfigError

View = Callable[..., Any]


def client_address() -> str:
    """The client's address, as far as the trusted proxies in front of us tell."""
    return request.remote_addr or "unknown"


def _by_address() -> str:
    return f"addr:{client_address()}"


def _site() -> str | None:
    keys: dict[str, str] = current_app.config["LISTEN_SITE_KEYS"]
    return keys.get(request.headers.get("X-Listen-Key", ""))


def _by_site() -> str:
    return f"site:{_site()}"


def _without_site() -> bool:
    # Unknown or absent keys are refused by the view (401/403) and still
    # counted per address; only a configured site has a budget of its own.
    return _site() is None


def _not_waiting() -> bool:
    return "wait" not in request.args


def _never() -> bool:
    return False


def _either(a: Callable[[], bool], b: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: a() or b()


def try_hold() -> Callable[[], None] | None:
    """Permission for this request to hold a web thread while it waits (see ``Holds``)."""
    holds: Holds = current_app.extensions["listen_holds"]
    return holds.try_acquire(client_address())


def _rate(app: Flask, name: str) -> str:
    value: str = app.config[name]
    if not value:
        return value
    try:
        limits_lib.parse_many(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a rate like '30/minute;300/hour'") from exc
    return value


def _storage(app: Flask) -> tuple[str, dict[str, Any]]:
    if embedded(app.config) or not app.config["LISTEN_REDIS_URL"]:
        return "memory://", {}
    # Short timeouts: a rate check must not hang a request while Redis is away.
    return app.config["LISTEN_REDIS_URL"], {"socket_connect_timeout": 1, "socket_timeout": 1}


def init_app(app: Flask) -> None:
    """Bound what each client may cost; call after the API blueprint is registered."""
    hops: int = app.config["LISTEN_PROXY_HOPS"]
    if hops < 0:
        raise ConfigError("LISTEN_PROXY_HOPS must be 0 or more")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    total, per_client = (
        app.config["LISTEN_STREAMS_PER_PROCESS"],
        app.config["LISTEN_STREAMS_PER_CLIENT"],
    )
    if total < 0 or per_client < 0:
        raise ConfigError(
            "LISTEN_STREAMS_PER_PROCESS and LISTEN_STREAMS_PER_CLIENT must be 0 or more"
        )
    app.extensions["listen_holds"] = Holds(total, per_client)

    post, streams, site, events, _, feeds = (_rate(app, name) for name in RATE_SETTINGS)
    uri, options = _storage(app)
    limiter = Limiter(
        _by_address,
        storage_uri=uri,
        storage_options=options,
        key_prefix="listen-rate",
        strategy="moving-window",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    app.extensions["listen_limiter"] = limiter
    if post:
        _apply(app, "api.listen", limiter.limit(post))
    if site:
        _apply(app, "api.listen", limiter.limit(site, key_func=_by_site, exempt_when=_without_site))
    # A status poll without ?wait= holds nothing and is not limited; with it,
    # it shares one budget with event streams.
    for endpoint, exempt in (("api.job_status", _not_waiting), ("api.job_events", _never)):
        if streams:
            _apply(app, endpoint, limiter.shared_limit(streams, "streams", exempt_when=exempt))
        if site:
            by_site = limiter.shared_limit(
                site, "site-streams", key_func=_by_site, exempt_when=_either(_without_site, exempt)
            )
            _apply(app, endpoint, by_site)

    if events and "analytics.events" in app.view_functions:
        _apply(app, "analytics.events", limiter.limit(events))
    if feeds and "feeds.podcast" in app.view_functions:
        _apply(app, "feeds.podcast", limiter.limit(feeds))

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        return error_response(
            429,
            "rate_limited",
            f"too many requests from this client or site (limit {exc.description}); "
            "wait before trying again",
            {"Retry-After": str(_retry_after(limiter))},
        )


def hit(setting: str, scope: str, key: str) -> None:
    """Count one request of ``key`` against the rate of ``setting`` (in ``scope``), for a
    view that learns its key from the body; ``ApiError`` 429 with Retry-After past it.
    A storage that cannot be reached lets the request through, as the limiter does."""
    rate: str = current_app.config[setting]
    if not rate:
        return
    limiter: Limiter = current_app.extensions["listen_limiter"]
    for item in limits_lib.parse_many(rate):
        try:
            if limiter.limiter.hit(item, "listen-rate", scope, key):
                continue
            reset = limiter.limiter.get_window_stats(item, "listen-rate", scope, key).reset_time
        except Exception:  # the storage went away
            return
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this site (limit {item}); wait before trying again",
            {"Retry-After": str(max(1, math.ceil(reset - time.time())))},
        )


def _apply(app: Flask, endpoint: str, limit: Callable[[View], View]) -> None:
    app.view_functions[endpoint] = limit(app.view_functions[endpoint])


def _retry_after(limiter: Limiter) -> int:
    """Whole seconds until the breached limit lets a request through again (at least 1)."""
    breached = limiter.current_limit
    if breached is None:
        return 1
    try:
        return max(1, math.ceil(breached.reset_at - time.time()))
    except Exception:  # the storage went away between the check and now
        return 1
