"""What readers see: the embeddable ``/player.js``, the ``/embed/<id>`` page and the demo at ``/``.

``player.js`` defines ``<listen-button>``, a custom element whose whole UI
lives in a shadow root; it talks to this server's API from any site on
``LISTEN_ALLOWED_ORIGINS``. ``/embed/<id>`` is a one-player page for sites
that frame an audio instead; only the server itself and the allowed origins
may frame it (``Content-Security-Policy: frame-ancestors``). Both pages keep
to a Content-Security-Policy (``security.page_csp``) that their own scripts
and styles satisfy.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Final, cast
from urllib.parse import urlsplit

import rjsmin
from flask import Blueprint, Response, current_app, render_template, request

from audio_cache import AudioCache, is_valid_key
from listen_service.errors import ApiError
from listen_service.jobflow import voices
from listen_service.security import page_csp
from workers.errors import UnknownVoice
from workers.voices import ESPEAK, Voice, resolve_voice

bp = Blueprint("player", __name__)

HERE: Final = Path(__file__).parent
PLAYER_JS: Final = HERE / "static" / "player.js"
SAMPLE: Final = HERE / "sample_article.txt"
SCRIPT_MAX_AGE: Final = 3600
NOT_FOUND: Final = "no audio with this id; POST /api/v1/listen to create it"
# The embed page's only style, allowed by its hash rather than 'unsafe-inline'.
# Its padding and the card's height make embeds.EMBED_HEIGHT_PX.
EMBED_STYLE: Final = "html,body{margin:0;background:transparent}body{padding:2px}"
EMBED_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(EMBED_STYLE.encode()).digest()).decode()
# Where the demo article's aside and figure go: after these paragraphs (0-based).
FIGURE_AFTER: Final = 1
ASIDE_AFTER: Final = 5
# The demo article's language.
DEMO_LANG: Final = "en"


@cache
def _script(mtime_ns: int) -> tuple[bytes, str]:
    """The script as served — minified: comments and layout removed — and its strong
    ETag, made again only when the file changes (``static/player.js`` is the source)."""
    body = rjsmin.jsmin(PLAYER_JS.read_text(encoding="utf-8")).encode("utf-8")
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.get("/player.js")
def player_js() -> Response:
    body, etag = _script(PLAYER_JS.stat().st_mtime_ns)
    response = Response(body, mimetype="text/javascript")
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE}"
    response.set_etag(etag)
    response.make_conditional(request)
    return response


def embed_csp() -> str:
    """``/embed``'s policy: framed by this server and every configured site origin."""
    origins: tuple[str, ...] = current_app.config["LISTEN_ALLOWED_ORIGINS"]
    return page_csp(frame_ancestors=("'self'", *origins), styles=(f"'sha256-{EMBED_STYLE_HASH}'",))


def demo_csp() -> str:
    """The demo's policy: its own stylesheet and scripts, the API at the public URL too."""
    public = urlsplit(current_app.config["LISTEN_PUBLIC_URL"])
    api = (f"{public.scheme}://{public.netloc}",) if public.scheme and public.netloc else ()
    return page_csp(api_origins=api)


@bp.get("/embed/<job_id>")
def embed(job_id: str) -> Response:
    """A minimal page with one player for an existing audio, made to live in an iframe."""
    if not is_valid_key(job_id):
        raise ApiError(404, "not_found", NOT_FOUND)
    entry = cast(AudioCache, current_app.extensions["listen_cache"]).get(job_id)
    if entry is None:
        raise ApiError(404, "not_found", NOT_FOUND)
    html = render_template(
        "embed.html",
        id=entry.key,
        title=entry.title or "Listen",
        duration=entry.duration_s,
        style=EMBED_STYLE,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = embed_csp()
    # Stricter than the server's default: a framed player tells nobody where it is.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def demo_voices(installed: Sequence[Voice], lang: str = DEMO_LANG) -> list[str]:
    """The voices the demo's player offers: the neural voices of ``lang`` first (the
    first is the default), then espeak-ng's voice for it; none without a neural
    voice, when the demo reads in espeak-ng's voice as it always did."""
    neural = [v.id for v in installed if v.engine != ESPEAK and v.speaks(lang)]
    if not neural:
        return []
    try:
        return [*neural, resolve_voice(installed, lang=lang).id]
    except UnknownVoice:
        return neural


@bp.get("/")
def demo() -> Response:
    """A publisher's article page with the Listen button: what a newcomer sees first.

    It shows the key of ``LISTEN_DEMO_SITE`` only, a site the operator made
    for the demo; never the key of any other configured site.
    """
    paragraphs = [p.strip() for p in SAMPLE.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    keys: dict[str, str] = current_app.config["LISTEN_SITE_KEYS"]
    demo_site: str = current_app.config["LISTEN_DEMO_SITE"]
    site_key = next((key for key, site in keys.items() if demo_site and site == demo_site), "")
    html = render_template(
        "demo.html",
        paragraphs=paragraphs,
        figure_after=FIGURE_AFTER,
        aside_after=ASIDE_AFTER,
        site_key=site_key,
        needs_key=bool(keys) and not site_key,
        voices=demo_voices(voices()),
        minutes=max(1, round(sum(len(p.split()) for p in paragraphs) / 175)),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = demo_csp()
    return response
