"""Which articles each site has asked audio for: what its listing and deletion work on.

``<data>/sites/<site digest>/<job id>.json`` holds ``{id, site, title, posted, via}``
for every article a site posted (with its public key from a page, or with its
secret key through the publisher API). The directory is named by a digest of
the site's name, so any name is a safe path. Files are written whole
(``os.replace``) and only once per article: the first post is its date. On the
shared data directory, so every web process of every machine sees one list;
the audio itself stays in the cache, where eviction may remove it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_cache import is_valid_key
from audio_cache._fs import dir_lock


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    site: str
    title: str | None
    posted: float
    audio: dict[str, Any] | None = None
    """``{fmt, bytes, duration_s}`` once its audio was seen made (``describe``)."""
    via: str = "reader"
    """``publisher`` once the site sent it with its secret key (only those are in its
    feed); ``reader`` for one only its pages' public key asked for."""
    link: str | None = None
    """The article's page, when its publisher said (a ``url`` or ``link``): what a
    feed names the article by, the same whichever audio it has now."""

    def as_dict(self) -> dict[str, Any]:
        found = {"id": self.id, "title": self.title, "posted": self.posted, "via": self.via}
        return found | ({"link": self.link} if self.link else {})


class SiteIndex:
    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "sites"

    def _dir(self, site: str) -> Path:
        return self.root / site_folder(site)

    def add(
        self,
        site: str,
        job_id: str,
        title: str | None,
        *,
        via: str = "reader",
        now: float | None = None,
        link: str | None = None,
    ) -> bool:
        """Note that ``site`` asked for ``job_id`` (``via`` its pages or its publisher
        key); False if nothing changed. An article a reader asked for first becomes the
        publisher's when the site sends it too; its first date stays. A ``link`` given
        is kept (the latest given wins)."""
        if not is_valid_key(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        folder = self._dir(site)
        folder.mkdir(parents=True, exist_ok=True)
        with dir_lock(folder):
            return self._add(folder / f"{job_id}.json", site, job_id, title, via, now, link)

    def _add(
        self,
        path: Path,
        site: str,
        job_id: str,
        title: str | None,
        via: str,
        now: float | None,
        link: str | None,
    ) -> bool:
        known = self._read(path, site) if path.exists() else None
        if known is not None:
            claimed = known.via == "publisher" or via == "reader"
            if claimed and link in (None, known.link):
                return False
            via = "publisher" if "publisher" in (via, known.via) else via
            link = link or known.link
        posted = known.posted if known is not None else (now or time.time())
        record: dict[str, Any] = {
            "id": job_id,
            "site": site,
            "title": title,
            "posted": posted,
            "via": via,
        }
        if link:
            record["link"] = link
        if known is not None and known.audio is not None:
            record["audio"] = known.audio
        write_json(path, record)
        return True

    def describe(self, article: Article, fmt: str, nbytes: int, duration_s: float) -> Article:
        """Keep what a feed needs of ``article``'s audio beside it, so that a feed of
        a thousand articles reads no audio sidecar (see ``publishers.feed``)."""
        audio = {"fmt": fmt, "bytes": nbytes, "duration_s": duration_s}
        folder = self._dir(article.site)
        path = folder / f"{article.id}.json"
        record = {**article.as_dict(), "site": article.site, "audio": audio}
        if folder.is_dir():
            with dir_lock(folder):  # a delete is all or nothing beside this
                if path.exists():  # not for an article deleted meanwhile
                    write_json(path, record)
        return Article(
            article.id,
            article.site,
            article.title,
            article.posted,
            audio,
            article.via,
            article.link,
        )

    def get(self, site: str, job_id: str) -> Article | None:
        if not is_valid_key(job_id):
            return None
        return self._read(self._dir(site) / f"{job_id}.json", site)

    def articles(self, site: str) -> list[Article]:
        """The site's articles, newest first."""
        folder = self._dir(site)
        if not folder.is_dir():
            return []
        found = (self._read(p, site) for p in folder.glob("*.json") if not p.name.startswith("."))
        return sorted((a for a in found if a is not None), key=lambda a: a.posted, reverse=True)

    def remove(self, site: str, job_id: str) -> bool:
        folder = self._dir(site)
        if not is_valid_key(job_id) or not folder.is_dir():
            return False
        with dir_lock(folder):
            try:
                (folder / f"{job_id}.json").unlink()
            except FileNotFoundError:
                return False
        return True

    @staticmethod
    def _read(path: Path, site: str) -> Article | None:
        try:
            raw = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None  # removed meanwhile, or cut short by a crash
        if raw.get("site") != site:
            return None
        posted = float(raw["posted"])
        via = "publisher" if raw.get("via") == "publisher" else "reader"
        link = raw.get("link") if isinstance(raw.get("link"), str) else None
        return Article(str(raw["id"]), site, raw.get("title"), posted, raw.get("audio"), via, link)


def site_folder(site: str) -> str:
    """A directory name for ``site``, safe whatever its name."""
    return hashlib.sha256(site.encode("utf-8")).hexdigest()[:32]


def write_json(path: Path, record: dict[str, Any]) -> None:
    """``record`` as ``path``, whole or not at all."""
    write_whole(path, json.dumps(record, ensure_ascii=False).encode("utf-8"))


def write_whole(path: Path, data: bytes) -> None:
    """``data`` as ``path``, whole or not at all (a temporary file beside it, renamed)."""
    fd, tmp = tempfile.mkstemp(prefix=".add-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
