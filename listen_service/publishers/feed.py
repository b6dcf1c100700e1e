"""``GET /feeds/<site>.xml``: a site's articles as a podcast (RSS 2.0 with the iTunes
namespace), made with ``feedgen``.

One item per article the site sent with its secret key (the publisher API;
never one only its pages' public key asked for, which anyone can send) whose
audio is made,
newest first, at most ``MAX_ITEMS``: its title, a link and a ``guid`` — the
article's page when the publisher gave it (``link``, or the ``url`` it was
fetched from), so that a re-rendered article stays one episode (the newest
rendering), else its ``/embed`` page and its id —, ``pubDate`` (when the
site first asked for it), the enclosure's absolute URL, length in bytes and
type, and its duration. The channel's title, link, description, language,
artwork, author, category and explicit flag come from ``LISTEN_SITE_FEEDS``;
a site not named there has no feed (404). Public (podcast apps do not log
in); ``Cache-Control: public, max-age=300`` and an ``ETag``.

What a feed needs of each audio is kept in the article's index record the
first time it is seen made (``SiteIndex.describe``), so a feed of a thousand
articles reads a thousand small files and stats their sidecars, never a
sidecar with its timings (docs/benchmarks.md, "Podcast feed").
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, current_app, request
from werkzeug.wrappers import Response as BaseResponse

from audio_cache import AudioCache
from listen_service.config import site_feeds
from listen_service.embeds import job_links, public_base
from listen_service.errors import ApiError
from listen_service.publishers import site_index
from listen_service.publishers.index import Article

feeds = Blueprint("feeds", __name__)
MAX_ITEMS = 1000
TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav"}


# Characters XML 1.0 cannot hold (lxml refuses them): one in a title must not break the feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def _made(cache: AudioCache, article: Article) -> Article | None:
    """``article`` with its audio's facts if its audio is in the cache, else None."""
    if article.audio is not None:
        return article if cache.stored(article.id) else None
    entry = cache.peek(article.id)
    if entry is None:
        return None
    return site_index().describe(article, entry.fmt, entry.bytes, entry.duration_s)


def render(site: str, feed: dict[str, Any], articles: list[Article], base: str) -> bytes:
    fg = FeedGenerator()
    fg.load_extension("podcast")
    newest = max((a.posted for a in articles), default=0.0)
    # The feed changes when its items do, not every second: a podcast app's
    # If-None-Match gets its 304.
    fg.lastBuildDate(datetime.fromtimestamp(newest, UTC))
    fg.title(feed["title"])
    fg.link(href=feed.get("link") or base, rel="alternate")
    fg.description(feed.get("description") or f"Articles of {feed['title']}, read aloud")
    fg.language(feed.get("language") or "en")
    fg.generator("Listen")
    fg.podcast.itunes_author(feed.get("author") or feed["title"])
    fg.podcast.itunes_explicit("yes" if feed.get("explicit") else "no")
    if feed.get("image"):
        fg.image(url=feed["image"], title=feed["title"], link=feed.get("link") or base)
        fg.podcast.itunes_image(feed["image"])
    if feed.get("category"):
        fg.podcast.itunes_category(feed["category"])
    for article in articles:  # newest first: appended in that order
        audio = article.audio or {}
        entry = fg.add_entry(order="append")
        # By its page when the publisher gave it: a re-render (new text, a lexicon
        # edit, a new voice) is a new id but the same episode.
        entry.guid(article.link or article.id, permalink=False)
        entry.title(_xml(article.title or "") or f"Article {article.id[:12]}")
        fmt = audio.get("fmt", "mp3")
        links = job_links(article.id, fmt, base)
        entry.link(href=article.link or links["embed_url"])
        entry.pubDate(datetime.fromtimestamp(article.posted, UTC))
        size, kind = str(audio.get("bytes", 0)), TYPES.get(fmt, "audio/mpeg")
        entry.enclosure(links["audio_url"], size, kind)
        entry.podcast.itunes_duration(round(audio.get("duration_s", 0)))
    body: bytes = fg.rss_str(pretty=False)
    return body


@feeds.get("/feeds/<site>.xml")
def podcast(site: str) -> BaseResponse:
    feed = site_feeds(current_app.config).get(site)
    if feed is None:
        raise ApiError(404, "no_feed", "this site publishes no feed (LISTEN_SITE_FEEDS)")
    cache: AudioCache = current_app.extensions["listen_cache"]
    made = []
    pages: set[str] = set()
    for article in site_index().articles(site):  # newest first
        if article.via != "publisher":  # a reader's press is no episode
            continue
        if article.link is not None and article.link in pages:
            continue  # an older rendering of a page already in the feed
        found = _made(cache, article)
        if found is not None:
            made.append(found)
            if article.link is not None:
                pages.add(article.link)
            if len(made) == MAX_ITEMS:
                break
    body = render(site, feed, made, public_base())
    response = Response(body, mimetype="application/rss+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    return response.make_conditional(request)
