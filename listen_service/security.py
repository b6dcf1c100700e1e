"""Headers that limit what a browser does with Listen's responses.

Every response carries ``X-Content-Type-Options: nosniff`` (a JSON body or an
audio file is never run as a script or rendered as a page) and a
``Referrer-Policy`` (other origins learn this server's origin, never the
path or query of the page that linked to them). A view may set a stricter
value of its own (``/embed`` sends ``no-referrer``); it is kept.

Listen's own HTML pages (``/`` and ``/embed/<id>``) also carry a
Content-Security-Policy from ``page_csp``: scripts, styles, API calls and
audio from this server only, no inline script, nothing else. Nothing here
restricts which origins may fetch audio or ``player.js``: publishers' pages
load both across origins (``cors`` decides who may read the API).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response

REFERRER_POLICY = "strict-origin-when-cross-origin"


def page_csp(
    *,
    frame_ancestors: Iterable[str] = ("'self'",),
    styles: Iterable[str] = (),
    api_origins: Iterable[str] = (),
) -> str:
    """The Content-Security-Policy of a page that runs ``player.js`` from this server.

    ``styles`` adds style sources (e.g. ``'sha256-…'`` of an inline style);
    ``api_origins`` adds origins the player may call and stream audio from
    besides this one; ``frame_ancestors`` says who may frame the page.
    """
    api = " ".join(("'self'", *api_origins))
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            " ".join(("style-src 'self'", *styles)),
            f"connect-src {api}",
            # blob: for progressive playback (Media Source Extensions; player.js).
            f"media-src {api} blob:",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            " ".join(("frame-ancestors", *frame_ancestors)),
        )
    )


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        return response
