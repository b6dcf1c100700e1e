"""Listening analytics in both modes: a player's events (``POST /api/v1/events``) counted
per site and article, read with the site's secret key (``GET /api/v1/sites/<site>/stats``);
abuse refused (huge bodies, floods, bad fields, made-up articles); a site that switched
reporting off not counted; and nothing that could tell readers apart kept in the store."""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from listen_service import create_app
from listen_service.analytics.store import COUNTERS
from tests.service.conftest import JOBS_REDIS_URL, Worker
from tests.service.test_flow import wait_ready
from tests.service.test_lexicons import error
from tests.service.test_limits import assert_rate_limited, call, serve
from tests.service.test_ops_console import log_in, page
from tests.service.test_ops_jobs import TOKEN
from tests.service.test_publishers import NEWS, SITES

NEWS_KEY, BLOG_KEY = "news-public-key-0001", "blog-public-key-0002"
EVENTS = "/api/v1/events"
STATS = "/api/v1/sites/news/stats"
BEACON = {"Content-Type": "text/plain;charset=UTF-8"}  # what navigator.sendBeacon sends


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app({**service_config, **SITES})


def press(client: FlaskClient, text: str, title: str, key: str = NEWS_KEY) -> dict[str, Any]:
    """A reader's press: the player's POST /api/v1/listen with the page's public key."""
    response = client.post(
        "/api/v1/listen",
        json={"text": text, "title": title},
        headers={"X-Listen-Key": key},
    )
    assert response.status_code in (200, 202), response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def send(client: FlaskClient, job_id: str, kind: str, pct: int | None = None, **more: Any) -> int:
    event: dict[str, Any] = {"key": more.pop("key", NEWS_KEY), "id": job_id, "type": kind}
    if pct is not None:
        event["pct"] = pct
    headers = {**BEACON, **more.pop("headers", {})}
    return client.post(EVENTS, data=json.dumps(event), headers=headers).status_code


def test_events_are_counted_per_article_and_read_with_the_secret_key(
    app: Flask, worker: Worker
) -> None:
    client = app.test_client()
    ferries = press(client, "The ferries cross the harbour at dusk, full of commuters.", "Ferries")
    strike = press(client, "Rail strike called off after late talks.", "Rail strike")
    # Absolute, as every link the service gives.
    assert ferries["events_url"] == strike["events_url"] == f"http://localhost{EVENTS}"
    duration = wait_ready(client, ferries["status_url"])["duration_s"]
    wait_ready(client, strike["status_url"])
    a, b = ferries["id"], strike["id"]

    # Two readers of the ferries: one hears it all (and downloads it), one stops after 25 %.
    for kind, pct in [("play", None), ("progress", 25), ("progress", 50), ("speed", None)]:
        assert send(client, a, kind, pct) == 204
    for pct in (75, 100):
        assert send(client, a, "progress", pct) == 204
    assert send(client, a, "download") == 204
    assert send(client, a, "play") == 204
    # The same event as application/json (sendBeacon with a JSON Blob, or fetch) counts too.
    body = {"key": NEWS_KEY, "id": a, "type": "progress", "pct": 25}
    assert client.post(EVENTS, json=body).status_code == 204
    assert send(client, b, "play") == 204

    stats = client.get(STATS, headers=NEWS)
    assert stats.status_code == 200
    got = stats.get_json()
    assert got["site"] == "news"
    first, second = got["articles"]
    assert first == {
        "id": a,
        "title": "Ferries",
        "plays": 2,
        "completions": 1,
        "completion_rate": 0.5,
        # Five milestones reached, each a quarter of the audio as the server measured it.
        "listened_minutes": round(5 * round(duration * 1000 / 4) / 60_000, 2),
        "reached": {"25": 2, "50": 1, "75": 1, "100": 1},
        "speed_changes": 1,
        "downloads": 1,
    }
    assert first["listened_minutes"] > 0
    assert second["id"] == b and second["title"] == "Rail strike" and second["plays"] == 1
    assert second["completion_rate"] == 0.0 and second["listened_minutes"] == 0
    totals = got["totals"]
    assert totals["articles"] == 2 and totals["plays"] == 3 and totals["completions"] == 1
    assert totals["completion_rate"] == round(1 / 3, 3)
    assert totals["listened_minutes"] == first["listened_minutes"]
    # Another site's figures are apart.
    blog = client.get(
        "/api/v1/sites/blog/stats", headers={"Authorization": "Bearer blog-secret-key-000000002"}
    ).get_json()
    assert blog["articles"] == [] and blog["totals"]["plays"] == 0
    assert blog["totals"]["completion_rate"] is None


def test_only_the_sites_secret_key_reads_its_stats(app: Flask) -> None:
    client = app.test_client()
    error(client.get(STATS), 401, "missing_admin_token")
    for wrong in ("blog-secret-key-000000002", NEWS_KEY):
        error(
            client.get(STATS, headers={"Authorization": f"Bearer {wrong}"}),
            403,
            "wrong_admin_token",
        )
    error(client.get("/api/v1/sites/shop/stats", headers=NEWS), 404, "unknown_site")


def test_bad_events_are_refused_and_nothing_is_counted(app: Flask) -> None:
    client = app.test_client()
    job_id = press(client, "A short article.", "Short")["id"]
    blogs = press(client, "A blog post.", "Post", key=BLOG_KEY)["id"]
    good = {"key": NEWS_KEY, "id": job_id, "type": "play"}
    cases: list[tuple[Any, int, str]] = [
        ({**good, "key": None}, 401, "missing_site_key"),
        ({k: v for k, v in good.items() if k != "key"}, 401, "missing_site_key"),
        ({**good, "key": "not-a-key-of-this-server"}, 403, "unknown_site_key"),
        ({**good, "key": 12345678}, 403, "unknown_site_key"),
        ({**good, "id": "../../etc/passwd"}, 422, "invalid_field"),
        ({**good, "id": "ab" * 32}, 422, "unknown_article"),
        # An article of another site: its key cannot count for it.
        ({**good, "id": blogs}, 422, "unknown_article"),
        ({**good, "type": "pause"}, 422, "invalid_field"),
        ({**good, "type": "progress"}, 422, "invalid_field"),
        ({**good, "type": "progress", "pct": 30}, 422, "invalid_field"),
        ({**good, "type": "progress", "pct": True}, 422, "invalid_field"),
        ({**good, "pct": 25}, 422, "invalid_field"),
        ({**good, "ua": "Mozilla/5.0"}, 422, "invalid_field"),
        ([good], 422, "invalid_field"),
    ]
    for body, status, code in cases:
        error(client.post(EVENTS, data=json.dumps(body), headers=BEACON), status, code)
    error(client.post(EVENTS, data="{not json", headers=BEACON), 400, "malformed_json")
    error(
        client.post(EVENTS, data=json.dumps(good), headers={"Content-Type": "text/html"}),
        415,
        "unsupported_media_type",
    )
    # A huge body (declared length over 2 KB); a chunked one: the next test.
    huge = json.dumps({**good, "pad": "x" * 100_000})
    error(client.post(EVENTS, data=huge, headers=BEACON), 413, "request_entity_too_large")
    stats = client.get(STATS, headers=NEWS).get_json()
    assert stats["articles"] == [] and stats["totals"]["plays"] == 0


def test_a_huge_chunked_event_is_413_through_a_real_server(app: Flask) -> None:
    for base in serve(app):
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.putrequest("POST", EVENTS)
        conn.putheader("Content-Type", "text/plain")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b'{"pad": "' + b"x" * 10_000 + b'"}'
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "request_entity_too_large"
        conn.close()


@pytest.fixture
def limited(service_config: dict[str, Any]) -> Iterator[str]:
    app = create_app(
        {
            **service_config,
            **SITES,
            "LISTEN_RATE_LIMIT_EVENTS": "5/minute",
            "LISTEN_RATE_LIMIT_SITE_EVENTS": "8/minute",
        }
    )
    yield from serve(app)


def test_an_event_flood_is_limited_per_address_and_per_site(limited: str) -> None:
    def job(key: str) -> str:
        body = {"text": f"An article for {key}.", "title": "T"}
        status, _, raw = call(
            limited, "POST", "/api/v1/listen", "127.0.0.1", body, **{"X-Listen-Key": key}
        )
        assert status == 202, raw
        return str(json.loads(raw)["id"])

    news, blog = job(NEWS_KEY), job(BLOG_KEY)

    def event(source: str, key: str, job_id: str) -> tuple[int, dict[str, str], bytes]:
        return call(limited, "POST", EVENTS, source, {"key": key, "id": job_id, "type": "play"})

    # One address: 5 a minute, the sixth refused.
    results = [event("127.0.0.2", NEWS_KEY, news) for _ in range(6)]
    assert [r[0] for r in results[:5]] == [204] * 5
    assert_rate_limited(results[5])
    # Other addresses of the same site: 3 more reach its 8 a minute, then it is refused.
    statuses = [event(f"127.0.0.{n}", NEWS_KEY, news)[0] for n in (3, 4, 5)]
    assert statuses == [204] * 3
    refused = event("127.0.0.6", NEWS_KEY, news)
    assert_rate_limited(refused)
    # Another site is served.
    assert event("127.0.0.7", BLOG_KEY, blog)[0] == 204


@pytest.mark.parametrize(
    ("settings", "counted"),
    [({"LISTEN_ANALYTICS_OFF_SITES": "blog"}, {"news"}), ({"LISTEN_ANALYTICS": "false"}, set())],
)
def test_a_site_that_switched_analytics_off_is_not_counted(
    service_config: dict[str, Any], settings: dict[str, str], counted: set[str]
) -> None:
    client = create_app({**service_config, **SITES, **settings}).test_client()
    for site, key in (("news", NEWS_KEY), ("blog", BLOG_KEY)):
        job = press(client, f"An article of {site}.", site, key=key)
        # Its players are not told where to report, so they send nothing…
        assert ("events_url" in job) is (site in counted)
        # …and what is sent all the same is refused.
        response = client.post(
            EVENTS, data=json.dumps({"key": key, "id": job["id"], "type": "play"}), headers=BEACON
        )
        if site in counted:
            assert response.status_code == 204
        else:
            error(response, 403, "analytics_off")
    for site, secret in (
        ("news", NEWS),
        ("blog", {"Authorization": "Bearer blog-secret-key-000000002"}),
    ):
        plays = client.get(f"/api/v1/sites/{site}/stats", headers=secret).get_json()["totals"][
            "plays"
        ]
        assert plays == (1 if site in counted else 0)


def test_nothing_that_tells_readers_apart_is_stored(app: Flask, mode: str) -> None:
    client = app.test_client()
    job_id = press(client, "An article read by many.", "Many")["id"]
    marks = [
        "Mozilla/5.0 (Reader-UA-7731)",
        "reader-cookie-5512",
        "198.51.100.77",
        "https://news.example/a?u=9",
    ]
    for n in range(3):
        headers = {
            "User-Agent": marks[0],
            "Cookie": f"session={marks[1]}",
            "X-Forwarded-For": marks[2],
            "Referer": marks[3],
        }
        assert send(client, job_id, "progress", 25 * (n + 1), headers=headers) == 204
    if mode == "redis":
        jobs = redis.Redis.from_url(JOBS_REDIS_URL)
        keys = jobs.keys("listen:analytics:*")
        assert keys == [b"listen:analytics:news"]
        stored = jobs.hgetall(keys[0])
        assert {f.decode() for f in stored} == {
            f"{job_id}:{n}" for n in ("p25", "p50", "p75", "listened_ms")
        }
        kept = b"".join(k + v for k, v in stored.items())
    else:
        path = app.config["LISTEN_DATA_DIR"] / "analytics.sqlite3"
        db = sqlite3.connect(path)
        columns = [row[1] for row in db.execute("PRAGMA table_info(counts)")]
        assert columns == ["site", "article", *COUNTERS]
        assert db.execute("SELECT site, article, p25, p50, p75, p100 FROM counts").fetchall() == [
            ("news", job_id, 1, 1, 1, 0)
        ]
        db.close()
        kept = b"".join(p.read_bytes() for p in path.parent.glob("analytics.sqlite3*"))
    for mark in [*marks, "127.0.0.1"]:
        assert mark.encode() not in kept


def test_the_operators_console_shows_each_sites_totals(service_config: dict[str, Any]) -> None:
    app = create_app(
        {**service_config, **SITES, "LISTEN_OPS_TOKEN": TOKEN, "LISTEN_ANALYTICS_OFF_SITES": "blog"}
    )
    client = app.test_client()
    job_id = press(client, "An article read twice.", "Twice")["id"]
    for kind, pct in [("play", None), ("progress", 100), ("play", None), ("download", None)]:
        assert send(client, job_id, kind, pct) == 204
    log_in(client)
    text = page(client)
    rows = dict(re.findall(r'<tr id="listening-(\w+)">(.*?)</tr>', text, re.S))
    cells = {site: re.findall(r"<td[^>]*>(.*?)</td>", row) for site, row in rows.items()}
    # Site, articles, plays, completion rate, minutes (no audio made: 0), speed changes,
    # downloads, whether it is counted.
    assert cells == {
        "blog": ["blog", "0", "0", "—", "0", "0", "0", "off"],
        "news": ["news", "1", "2", "50 %", "0", "0", "1", "on"],
    }
