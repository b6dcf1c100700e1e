"""Copies of one article that differ in nothing heard share one id (workers/canonical.py):
audio made at publish time is what a reader's copy finds, in both modes, with a real worker."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready

ARTICLE = (
    "Budget 2027: what changes for renters.\n\n"
    "Rents will be capped for two years, the minister said at the caf\u00e9."
)
COPIES = [
    ARTICLE + "\n",  # a trailing newline
    ARTICLE.replace("\n\n", "\r\n\r\n"),  # Windows line endings
    "  " + ARTICLE.replace("two years", "two\u00a0years"),  # no-break space, indent
    ARTICLE.replace("capped", "cap\u00adped").replace("minister", "mini\u200bster"),
    ARTICLE.replace("caf\u00e9", "cafe\u0301"),  # decomposed accent
    ARTICLE.replace("\n\n", "\n \t\n\n"),  # a blank line with spaces in it
]


def test_copies_of_an_article_share_one_id_and_its_audio(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    # At publish time, in the bulk lane.
    published = client.post(
        "/api/v1/listen", json={"text": ARTICLE, "title": "Budget 2027", "priority": "bulk"}
    )
    assert published.status_code == 202
    job_id = published.get_json()["id"]
    for copy in COPIES:
        again = client.post("/api/v1/listen", json={"text": copy, "title": " Budget\u00a0 2027 "})
        assert (again.status_code, again.get_json()["id"]) == (202, job_id), repr(copy)
    # Something heard is another article.
    other = client.post("/api/v1/listen", json={"text": ARTICLE.replace("two", "three")})
    assert other.get_json()["id"] != job_id

    worker = start_worker(app, tmp_path / "worker.log")
    try:
        assert wait_ready(client, published.get_json()["status_url"])["status"] == "ready"
        # A reader's copy is answered from the cache at once.
        reader = client.post("/api/v1/listen", json={"text": COPIES[3], "title": "Budget 2027"})
        assert (reader.status_code, reader.get_json()["id"]) == (200, job_id)
    finally:
        worker.stop()
    # Timings index the canonical text: each sentence is where they say.
    timings = client.get(f"/audio/{job_id}.json").get_json()["timings"]
    spans = [ARTICLE[t["char_start"] : t["char_end"]] for t in timings]
    assert spans[0].startswith("Budget 2027") and spans[-1].endswith("caf\u00e9.")
    assert worker.syntheses(job_id) == 1
