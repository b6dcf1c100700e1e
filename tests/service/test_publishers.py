"""The publisher API with a site's secret key, in both modes with a real worker: a batch
submitted at publish time, the site's list of articles and their audio, and deleting one
(its audio, its job, its place in the list), and who may do each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from listen_service import create_app
from listen_service.config import secret_digest
from tests.conftest import no_temp_files
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_lexicons import error
from tests.service.test_ops_jobs import ARTICLE

SECRET = "news-secret-key-of-the-tests-0001"
SITES = {
    "LISTEN_SITE_KEYS": "news:news-public-key-0001,blog:blog-public-key-0002",
    # Kept as its digest only, as `listen-service site-secret` prints it.
    "LISTEN_SITE_ADMIN_TOKENS": f"news:{secret_digest(SECRET)},blog:blog-secret-key-000000002",
}
NEWS = {"Authorization": f"Bearer {SECRET}"}
ARTICLES = "/api/v1/sites/news/articles"


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app({**service_config, **SITES})


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", ARTICLES), ("get", ARTICLES), ("delete", f"{ARTICLES}/{'ab' * 32}")],
)
def test_only_the_sites_secret_key_may(app: Flask, method: str, path: str) -> None:
    call = getattr(app.test_client(), method)
    body = {"articles": [{"text": "Hello."}]}
    error(call(path, json=body), 401, "missing_admin_token")
    for wrong in ("blog-secret-key-000000002", "news-public-key-0001", SECRET[:-1]):
        error(
            call(path, json=body, headers={"Authorization": f"Bearer {wrong}"}),
            403,
            "wrong_admin_token",
        )
    error(call(path.replace("/news/", "/shop/"), json=body, headers=NEWS), 404, "unknown_site")


def test_a_batch_at_publish_time_then_the_list_then_a_delete(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    batch = [
        {"text": "Budget 2027: rents will be capped.", "title": "Budget"},
        {"title": "No text"},
        {"url": "https://example.org/a"},
        {
            "text": "Rail strike called off after talks.",
            "title": "Strike",
            "priority": "interactive",
        },
    ]
    answer = client.post(ARTICLES, json={"articles": batch}, headers=NEWS)
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    results = body["articles"]
    assert (body["accepted"], body["ready"], body["failed"]) == (2, 0, 2)
    assert results[0]["status"] == "queued" and results[3]["status"] == "queued"
    assert results[1]["error"]["code"] == "invalid_field"
    assert "a batch's only article" in results[2]["error"]["message"]
    records = app.extensions["listen_jobs"]
    assert records.get(results[0]["id"]).site == "news"
    # A reader's press on the site's page (its public key) is one of its articles too.
    pressed = client.post(
        "/api/v1/listen",
        json={"text": "A reader pressed Listen.", "priority": "interactive"},
        headers={"X-Listen-Key": "news-public-key-0001"},
    ).get_json()
    ids = [results[0]["id"], results[3]["id"], pressed["id"]]

    worker = start_worker(app, tmp_path / "worker.log")
    try:
        for job_id in ids:
            assert wait_ready(client, f"/api/v1/jobs/{job_id}")["status"] == "ready"
    finally:
        worker.stop()
    listed = client.get(ARTICLES, headers=NEWS).get_json()
    assert [a["id"] for a in listed["articles"]] == ids[::-1]  # newest first
    assert listed["count"] == 3
    first = next(a for a in listed["articles"] if a["id"] == ids[0])
    assert (first["title"], first["status"]) == ("Budget", "ready")
    assert first["duration_s"] > 0 and first["audio_url"].endswith(f"{ids[0]}.mp3")
    assert client.get(first["audio_url"]).status_code == 200
    # The other site sees none of them.
    blog = {"Authorization": "Bearer blog-secret-key-000000002"}
    assert client.get("/api/v1/sites/blog/articles", headers=blog).get_json()["count"] == 0
    error(client.delete(f"/api/v1/sites/blog/articles/{ids[0]}", headers=blog), 404, "not_found")
    error(client.get(f"{ARTICLES}?limit=0", headers=NEWS), 400, "invalid_limit")

    deleted = client.delete(f"{ARTICLES}/{ids[0]}", headers=NEWS)
    assert deleted.status_code == 204
    assert client.get(first["audio_url"]).status_code == 404
    assert client.get(f"/api/v1/jobs/{ids[0]}").status_code == 404
    assert [a["id"] for a in client.get(ARTICLES, headers=NEWS).get_json()["articles"]] == ids[
        :0:-1
    ]
    error(client.delete(f"{ARTICLES}/{ids[0]}", headers=NEWS), 404, "not_found")


def test_deleting_an_article_being_made_stops_it_and_keeps_nothing(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    text = "\n\n".join([ARTICLE.read_text()] * 12)
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        [job] = client.post(ARTICLES, json={"articles": [{"text": text}]}, headers=NEWS).get_json()[
            "articles"
        ]
        deadline = time.monotonic() + 120
        while client.get(job["status_url"]).get_json()["progress"] < 0.05:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.delete(f"{ARTICLES}/{job['id']}", headers=NEWS).status_code == 204
        assert worker.syntheses(job["id"]) == 0
    finally:
        worker.stop()
    assert app.extensions["listen_cache"].get(job["id"]) is None
    assert no_temp_files(Path(app.config["LISTEN_DATA_DIR"])) == []
    assert client.get(ARTICLES, headers=NEWS).get_json()["count"] == 0


def test_a_publishers_batch_has_its_own_cap_and_never_refuses_the_sites_readers(
    service_config: dict[str, Any],
) -> None:
    app = create_app({**service_config, **SITES, "LISTEN_SITE_MAX_QUEUED": 2})
    client = app.test_client()
    batch = [{"text": f"Published article number {n}."} for n in range(3)]
    body = client.post(ARTICLES, json={"articles": batch}, headers=NEWS).get_json()
    assert (body["accepted"], body["failed"]) == (2, 1)
    assert body["articles"][2]["error"]["code"] == "queue_full"

    def press(n: int) -> Any:
        return client.post(
            "/api/v1/listen",
            json={"text": f"A reader pressed Listen on article {n}."},
            headers={"X-Listen-Key": "news-public-key-0001"},
        )

    # The site's publisher is at its cap; its readers still have theirs, and only theirs.
    assert [press(n).status_code for n in range(3)] == [202, 202, 429]
    error(press(3), 429, "queue_full")
    again = client.post(ARTICLES, json={"articles": batch[2:]}, headers=NEWS).get_json()
    assert again["articles"][0]["error"]["code"] == "queue_full"
