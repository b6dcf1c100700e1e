"""The links a job body offers for pasting into another site: ``embed_url`` and ``embed_html``.

They are pasted into pages of other origins, where a relative ``src`` would
name the publisher's own server: so they are absolute, as every URL the
service gives (``absolute``: audio, timings, status, feeds), from
``LISTEN_PUBLIC_URL`` when it is set, else from the scheme and host the
request came in on (``request.host_url``; behind ``LISTEN_PROXY_HOPS``
proxies, the scheme they forward; nginx passes the ``Host`` on).

The iframe is as tall as the ``/embed`` page's player card (``EMBED_HEIGHT_PX``,
measured in Chromium by a browser test, which fails when the card and this
number part), so the site shows neither a gap under it nor a cut.
"""

from __future__ import annotations

from html import escape
from typing import Final

from flask import current_app, has_request_context, request

# The /embed page's height in CSS pixels: its player card on one row (the
# page's style keeps it on one row at any width) and the page's padding.
EMBED_HEIGHT_PX: Final = 72


def public_base() -> str:
    """The absolute origin (and path prefix) of this service as the request's client sees it.

    ``LISTEN_PUBLIC_URL`` when set, else the request's ``host_url``; needs a
    request context. No trailing slash.
    """
    configured = str(current_app.config.get("LISTEN_PUBLIC_URL") or "")
    return (configured or request.host_url).rstrip("/")


def absolute(path: str, base: str | None = None) -> str:
    """``path`` on this service, absolute: under ``base`` if given, else
    ``public_base()``; outside a request, under ``LISTEN_PUBLIC_URL`` (or as is)."""
    if base is None:
        configured = str(current_app.config.get("LISTEN_PUBLIC_URL") or "")
        base = public_base() if has_request_context() else configured
    return base.rstrip("/") + path


def job_links(job_id: str, fmt: str, base: str) -> dict[str, str]:
    """A job's ``status_url``, ``audio_url`` (as ``fmt``), ``timings_url`` and
    ``embed_url`` under ``base``: the one place their paths are spelled."""
    return {
        "status_url": f"{base}/api/v1/jobs/{job_id}",
        "audio_url": f"{base}/audio/{job_id}.{fmt}",
        "timings_url": f"{base}/audio/{job_id}.json",
        "embed_url": f"{base}/embed/{job_id}",
    }


def embed_links(job_id: str, base: str) -> dict[str, str]:
    """``embed_url`` and a ready-to-paste ``embed_html`` for job ``job_id`` under ``base``."""
    url = f"{base}/embed/{job_id}"
    snippet = (
        f'<iframe src="{escape(url, quote=True)}" title="Listen to this article" width="100%" '
        f'height="{EMBED_HEIGHT_PX}" style="border:0;display:block" loading="lazy" '
        'allow="autoplay"></iframe>'
    )
    return {"embed_url": url, "embed_html": snippet}
