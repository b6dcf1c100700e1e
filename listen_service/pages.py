"""The article text of a ``POST /api/v1/listen`` that sends ``html`` or ``url``.

The page becomes the same text a client could have sent as ``text`` (title
first, then headings and paragraphs, see ``ingest.extract``), so one article
has one id however it arrives. A ``url`` is fetched here, inside the web
request: ``LISTEN_FETCH_TIMEOUT_SECONDS`` bounds it, and ``ingest.fetch``
guards against server-side request forgery. Bounds: ``html`` is within
``LISTEN_MAX_BODY_BYTES`` (the request body's cap), a fetched page within
``LISTEN_FETCH_MAX_BYTES``, and the extracted text, like any text, within
``LISTEN_MAX_CHARS``. At most ``FETCHES_PER_PROCESS`` fetches run at once in a
web process; one more is ``503 busy_fetching`` with ``Retry-After``.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from flask import current_app

from listen_service.errors import ApiError
from listen_service.ingest.extract import Article, extract
from listen_service.ingest.fetch import FetchError, fetch_configured
from listen_service.jobflow import voices
from workers.errors import InputError, UnknownVoice
from workers.voices import resolve_voice


def article(source: str, value: str) -> Article:
    """The article of ``value``, an HTML document (``source`` "html") or a URL ("url")."""
    document: str | bytes = value
    if source == "url":
        document = _fetch(value)
    try:
        return extract(document)
    except InputError as exc:
        raise ApiError(422, "no_article", f"{exc}") from exc


def fill_payload(payload: dict[str, Any], found: Article, title_max: int) -> None:
    """Put the article's text in ``payload``: the request's title, else the page's, first.

    The page's title and language also become the request's unless it gives them.
    """
    if found.title and "title" not in payload:
        payload["title"] = found.title[:title_max]
    payload["text"] = replace(found, title=payload.get("title", "")).text
    if found.lang and "lang" not in payload and "voice" not in payload and _speakable(found.lang):
        payload["lang"] = found.lang


# Fetches at once in this process: each holds a web thread for up to the fetch's
# timeout, and the other requests (event streams, the player's posts) need threads too.
FETCHES_PER_PROCESS = 4
_fetching = threading.BoundedSemaphore(FETCHES_PER_PROCESS)


def _fetch(url: str) -> str | bytes:
    if not _fetching.acquire(blocking=False):
        raise ApiError(
            503,
            "busy_fetching",
            f"{FETCHES_PER_PROCESS} pages are being fetched already; retry shortly or send html",
            {"Retry-After": "5"},
        )
    try:
        page = fetch_configured(url, current_app.config)
    except FetchError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    finally:
        _fetching.release()
    return page.document()


def _speakable(lang: str) -> bool:
    # A page's language no voice speaks is left out: each paragraph's language
    # is detected anyway, and the request should not fail for it.
    try:
        resolve_voice(voices(), lang=lang)
    except UnknownVoice:
        return False
    return True
