"""Webhooks end to end, in both modes with a real worker: a site registers a URL (a real
HTTP receiver on loopback), its articles' ends are POSTed there signed (checked with the
recipe of docs/publishers.md), a 500 is retried until delivered once, a failed job is an
``audio.failed``, the site and the operator see every attempt, and removing the webhook
stops its deliveries; who may register, and which URLs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from listen_service import create_app
from listen_service.errors import JOB_ERROR_MESSAGES
from listen_service.webhooks.events import announce
from tests.service.conftest import start_worker
from tests.service.test_flow import wait_ready
from tests.service.test_lexicons import error
from tests.service.test_metrics import moved, scrape, scrape_once_moved
from tests.service.test_ops_jobs import AUTH, TOKEN, break_encoder
from tests.service.test_publishers import ARTICLES, NEWS, SECRET, SITES
from tests.webhook_receiver import Receiver, documented_verify, receiver

HOOK = "/api/v1/sites/news/webhook"
BASE = "https://listen.example"
COUNTER = "listen_webhook_deliveries_total"


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app(
        {
            **service_config,
            **SITES,
            "LISTEN_PUBLIC_URL": BASE,
            "LISTEN_OPS_TOKEN": TOKEN,
            "LISTEN_WEBHOOK_ALLOW_PRIVATE": True,
            "LISTEN_WEBHOOK_RETRY_SECONDS": 0.2,
        }
    )


@pytest.fixture
def site() -> Iterator[Receiver]:
    yield from receiver([500, 500, 200])


def _register(client: FlaskClient, url: str) -> str:
    response = client.put(HOOK, json={"url": url}, headers=NEWS)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["secret"])


def _publish(client: FlaskClient, text: str, title: str) -> dict[str, Any]:
    batch = {"articles": [{"text": text, "title": title}]}
    posted = client.post(ARTICLES, json=batch, headers=NEWS).get_json()["articles"][0]
    assert posted["status"] in ("queued", "working"), posted
    return posted  # type: ignore[no-any-return]


def _ops(client: FlaskClient) -> dict[str, Any]:
    listed = client.get("/api/v1/ops/webhooks", headers=AUTH).get_json()["webhooks"]
    return {w["site"]: w for w in listed}


def _settled(client: FlaskClient) -> dict[str, Any]:
    """The operator's view once nothing waits to be sent."""
    deadline = time.monotonic() + 60
    while (found := _ops(client))["news"]["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return found["news"]


def test_ready_is_signed_retried_on_500_and_delivered_once(
    app: Flask, site: Receiver, tmp_path: Path
) -> None:
    client = app.test_client()
    secret = _register(client, site.url)
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        before = scrape(app)
        posted = _publish(client, "The ferries cross the harbour at dusk.", "Ferries at dusk")
        assert wait_ready(client, posted["status_url"])["status"] == "ready"
        site.wait_for(lambda got: any(r.answered == 200 for r in got))
        seen = _settled(client)  # nothing left to send: no further POST will come
        after = scrape_once_moved(app, before, COUNTER, outcome="delivered")
    finally:
        worker.stop()
    assert moved(before, after, COUNTER, outcome="delivered") == 1
    assert moved(before, after, COUNTER, outcome="retrying") == 2

    assert [r.answered for r in site.received] == [500, 500, 200]
    verify = documented_verify()
    for got in site.received:
        assert verify(secret, got.headers["X-Listen-Signature"], got.body)
        assert not verify("whsec_another", got.headers["X-Listen-Signature"], got.body)
    assert len({r.headers["X-Listen-Delivery"] for r in site.received}) == 1
    assert len({r.body for r in site.received}) == 1  # the same event each time
    event = json.loads(site.received[0].body)
    assert site.received[0].headers["X-Listen-Event"] == event["event"] == "audio.ready"
    assert event["delivery"] == site.received[0].headers["X-Listen-Delivery"]
    article = event["article"]
    job_id = posted["id"]
    assert article["id"] == job_id and article["title"] == "Ferries at dusk"
    assert article["site"] == "news" and article["status"] == "ready"
    assert article["audio_url"] == f"{BASE}/audio/{job_id}.mp3"
    assert article["status_url"] == f"{BASE}/api/v1/jobs/{job_id}"
    assert article["duration_s"] > 0
    assert client.get(article["audio_url"].removeprefix(BASE)).status_code == 200

    shown = client.get(HOOK, headers=NEWS).get_json()
    assert shown["url"] == site.url and shown["secret"] == secret
    attempts = [(d["attempt"], d["status"], d["outcome"]) for d in shown["deliveries"]]
    assert attempts == [(3, 200, "delivered"), (2, 500, "retrying"), (1, 500, "retrying")]
    assert seen["deliveries"] == shown["deliveries"] and "secret" not in seen
    page = client.get("/ops", headers={**AUTH, "Accept": "text/html"}).get_data(as_text=True)
    row = page[page.index('<section id="webhooks">') : page.index('<section id="hour">')]
    assert f"<code>{site.url}</code>" in row and ">delivered</td>" in row
    assert ">3</td><td>200</td>" in row and secret not in page


def test_a_failed_job_is_an_audio_failed_event(app: Flask, site: Receiver, tmp_path: Path) -> None:
    break_encoder(app, tmp_path)
    site.script[:] = [204]
    client = app.test_client()
    secret = _register(client, site.url)
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        posted = _publish(client, "Nothing comes out of this encoder.", "Broken")
        failed = wait_ready(client, posted["status_url"], timeout=60)
        site.wait_for(lambda got: len(got) == 1)
    finally:
        worker.stop()
    assert failed["status"] == "failed"
    got = site.received[0]
    assert documented_verify()(secret, got.headers["X-Listen-Signature"], got.body)
    event = json.loads(got.body)
    assert got.headers["X-Listen-Event"] == event["event"] == "audio.failed"
    code = failed["error"]["code"]
    assert event["article"]["error"] == {"code": code, "message": JOB_ERROR_MESSAGES[code]}
    assert "audio_url" not in event["article"]
    assert "fire" not in got.body.decode()  # the recorded detail stays for operators


def test_an_article_made_before_the_site_sends_it_is_announced_when_it_does(
    app: Flask, site: Receiver, tmp_path: Path
) -> None:
    """A reader pressed first: no event then (the public key); the site's own send, answered
    ready at once, announces it; sending it again does not."""
    site.script[:] = [200]
    client = app.test_client()
    secret = _register(client, site.url)
    article = {"text": "Night buses run every twenty minutes.", "title": "Night buses"}
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        pressed = client.post(
            "/api/v1/listen", json=article, headers={"X-Listen-Key": "news-public-key-0001"}
        ).get_json()
        assert wait_ready(client, pressed["status_url"])["status"] == "ready"
        assert _settled(client)["deliveries"] == []
        for _ in range(2):
            sent = client.post(ARTICLES, json={"articles": [article]}, headers=NEWS).get_json()
            assert sent["articles"][0]["id"] == pressed["id"] and sent["ready"] == 1
            _settled(client)  # the send's event, if any, is in the outbox before it answers
    finally:
        worker.stop()
    [got] = site.received
    assert documented_verify()(secret, got.headers["X-Listen-Signature"], got.body)
    event = json.loads(got.body)
    assert event["event"] == "audio.ready" and event["article"]["id"] == pressed["id"]
    assert event["article"]["audio_url"] == f"{BASE}/audio/{pressed['id']}.mp3"


def test_removing_the_webhook_stops_its_deliveries(
    app: Flask, site: Receiver, tmp_path: Path
) -> None:
    site.script[:] = [500]
    app.config["LISTEN_WEBHOOK_RETRY_SECONDS"] = 5.0
    client = app.test_client()
    _register(client, site.url)
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        posted = _publish(client, "Rail strike called off after late talks.", "Rail strike off")
        wait_ready(client, posted["status_url"])
        site.wait_for(lambda got: len(got) == 1)
        assert client.delete(HOOK, headers=NEWS).status_code == 204
        deadline = time.monotonic() + 60
        while "dropped" not in worker.text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ops(client) == {}
        outbox = Path(app.config["LISTEN_DATA_DIR"], "webhooks")
        assert not [p for p in outbox.glob("*/*.json") if p.parent.name in ("outbox", "claimed")]
    finally:
        worker.stop()
    assert len(site.received) == 1  # the retry due 5 s later was dropped, not sent
    assert "dropped: site 'news' has no webhook now" in worker.text()
    error(client.get(HOOK, headers=NEWS), 404, "no_webhook")
    error(client.delete(HOOK, headers=NEWS), 404, "no_webhook")


def test_only_articles_the_site_sent_with_its_secret_key_are_announced(
    app: Flask, site: Receiver
) -> None:
    """As the feed: a reader's press (the public key, anyone may send it) makes no event."""
    client = app.test_client()
    _register(client, site.url)
    pressed = client.post(
        "/api/v1/listen",
        json={"text": "Buy cheap pills now.", "title": "Spam"},
        headers={"X-Listen-Key": "news-public-key-0001"},
    ).get_json()
    store = app.extensions["listen_jobs"]
    store.fail(pressed["id"], "encoder_failed", "ended by the test")
    assert announce(app, pressed["id"]) == 0
    # The same article, sent by the site: queued again (it had failed), and ended again.
    assert _publish(client, "Buy cheap pills now.", "Spam")["id"] == pressed["id"]
    store.fail(pressed["id"], "encoder_failed", "ended by the test")
    assert announce(app, pressed["id"]) == 1
    assert _ops(client)["news"]["pending"] == 1


def test_who_may_register_and_which_urls(app: Flask, site: Receiver) -> None:
    client = app.test_client()
    body = {"url": site.url}
    for call in (client.put, client.get, client.delete):
        error(call(HOOK, json=body), 401, "missing_admin_token")
        for wrong in ("blog-secret-key-000000002", "news-public-key-0001", SECRET[:-1]):
            bad = {"Authorization": f"Bearer {wrong}"}
            error(call(HOOK, json=body, headers=bad), 403, "wrong_admin_token")
        error(call(HOOK.replace("/news/", "/shop/"), json=body, headers=NEWS), 404, "unknown_site")
    error(client.get(HOOK, headers=NEWS), 404, "no_webhook")
    for url in (
        "ftp://news.example/hook",
        "https:///no-host",
        "https://user:pw@news.example/hook",
        "javascript:alert(1)",
        "http://[::1",
    ):
        error(client.put(HOOK, json={"url": url}, headers=NEWS), 422, "invalid_webhook_url")
    for wrong in ({"url": 7}, {"url": ""}, {"url": "https://a.example/" + "x" * 2000}, [], {}):
        error(client.put(HOOK, json=wrong, headers=NEWS), 422, "invalid_field")
    error(
        client.put(HOOK, json={"url": site.url, "rotate_secret": "yes"}, headers=NEWS),
        422,
        "invalid_field",
    )
    error(client.put(HOOK, data="url=x", headers=NEWS), 415, "unsupported_media_type")

    first = _register(client, site.url)
    moved = client.put(HOOK, json={"url": "https://news.example/hooks"}, headers=NEWS)
    assert moved.status_code == 200 and moved.get_json()["secret"] == first
    rotated = client.put(
        HOOK, json={"url": "https://news.example/hooks", "rotate_secret": True}, headers=NEWS
    ).get_json()
    assert rotated["secret"] != first and rotated["secret"].startswith("whsec_")
    assert client.get(HOOK, headers=NEWS).get_json()["secret"] == rotated["secret"]

    app.config["LISTEN_WEBHOOK_ALLOW_PRIVATE"] = False
    for url in ("http://127.0.0.1:9/h", "http://10.1.2.3/h", "http://[::1]/h"):
        error(client.put(HOOK, json={"url": url}, headers=NEWS), 422, "invalid_webhook_url")
