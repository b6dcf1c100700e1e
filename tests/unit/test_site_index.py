"""The site index (listen_service/publishers/index.py): one record per article and
site, its first date kept, a publisher's claim kept over a reader's, and a delete
that a feed's note of the audio never undoes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from audio_cache._fs import dir_lock
from listen_service.publishers.index import SiteIndex

ID = "ab" * 32


def test_first_date_kept_and_the_publisher_claim_wins(tmp_path: Path) -> None:
    index = SiteIndex(tmp_path)
    assert index.add("news", ID, "Budget", via="reader", now=100.0)
    assert not index.add("news", ID, "Budget", via="reader", now=200.0)
    assert index.add("news", ID, "Budget day", via="publisher", now=300.0)
    assert not index.add("news", ID, "Again", via="reader", now=400.0)
    article = index.get("news", ID)
    assert article is not None
    assert (article.posted, article.via, article.title) == (100.0, "publisher", "Budget day")
    assert index.get("blog", ID) is None and index.articles("blog") == []
    assert [a.id for a in index.articles("news")] == [ID]


def test_the_lock_file_is_not_an_article(tmp_path: Path) -> None:
    index = SiteIndex(tmp_path)
    index.add("news", ID, None)
    article = index.get("news", ID)
    assert article is not None
    index.describe(article, "mp3", 1000, 12.5)
    assert [a.audio for a in index.articles("news")] == [
        {"fmt": "mp3", "bytes": 1000, "duration_s": 12.5}
    ]


def test_noting_the_audio_waits_for_a_delete_and_never_brings_the_article_back(
    tmp_path: Path,
) -> None:
    index = SiteIndex(tmp_path)
    index.add("news", ID, "Budget", via="publisher")
    article = index.get("news", ID)
    assert article is not None
    folder = index._dir("news")
    with dir_lock(folder):  # a delete in its critical section
        noting = threading.Thread(target=index.describe, args=(article, "mp3", 10, 1.0))
        noting.start()
        time.sleep(0.3)
        assert noting.is_alive(), "describe must wait for the lock"
        (folder / f"{ID}.json").unlink()
    noting.join(10)
    assert not noting.is_alive()
    assert index.get("news", ID) is None and index.articles("news") == []
    assert not index.remove("news", ID)
    assert not index.remove("shop", ID)  # a site that never had a folder
