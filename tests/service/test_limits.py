"""Rate limits per client address and per site key, through a real HTTP server, both modes.

A flood from one address or one site key gets ``429`` with ``Retry-After``
in the JSON error shape; other clients and sites are still served.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from werkzeug.serving import make_server

from listen_service import create_app
from tests.service.conftest import REDIS_URL

TEXT = "One article that a flood asks for again and again."
NEWS_KEY, BLOG_KEY = "news-key-123", "blog-key-456"


@pytest.fixture
def service_config(service_config: dict[str, Any]) -> dict[str, Any]:
    # No queued job is re-enqueued while a test runs; an event stream that
    # is let in ends after a second instead of 55.
    return {**service_config, "LISTEN_STALE_SECONDS": 3600, "LISTEN_SSE_MAX_SECONDS": 1}


def call(
    base: str, method: str, path: str, source: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request from the loopback address ``source`` (127.0.0.x: a client of its own)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60, source_address=(source, 0))
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def flood(n: int, request: Any) -> list[tuple[int, dict[str, str], bytes]]:
    """``n`` requests at once, as a flood sends them."""
    results: list[tuple[int, dict[str, str], bytes]] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        results.append(request())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_rate_limited(result: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, raw = result
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 3600
    body = json.loads(raw)
    assert set(body) == {"error"} and body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]


def serve(app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.port}"
    httpd.shutdown()
    thread.join(10)


@pytest.fixture
def limited(service_config: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[str]:
    """A real server of an app with the test's extra settings (``request.param``)."""
    app = create_app({**service_config, **getattr(request, "param", {})})
    yield from serve(app)


def queued_job(base: str, source: str) -> str:
    status, _, raw = call(base, "POST", "/api/v1/listen", source, {"text": TEXT})
    assert status == 202, raw
    return str(json.loads(raw)["id"])


def test_post_flood_from_one_address_is_limited_others_are_served(limited: str) -> None:
    # The default LISTEN_RATE_LIMIT_POST: 30 a minute per address.
    results = flood(
        45, lambda: call(limited, "POST", "/api/v1/listen", "127.0.0.2", {"text": TEXT})
    )
    accepted = [r for r in results if r[0] == 202]
    refused = [r for r in results if r[0] != 202]
    assert len(accepted) == 30 and len(refused) == 15
    for result in refused:
        assert_rate_limited(result)
    assert call(limited, "POST", "/api/v1/listen", "127.0.0.3", {"text": TEXT})[0] == 202
    # Still refused for the flooding address.
    assert_rate_limited(call(limited, "POST", "/api/v1/listen", "127.0.0.2", {"text": TEXT}))


SITES = {
    "LISTEN_SITE_KEYS": f"news:{NEWS_KEY},blog:{BLOG_KEY}",
    "LISTEN_RATE_LIMIT_SITE": "10/minute",
}


@pytest.mark.parametrize("limited", [SITES], indirect=True)
def test_post_flood_with_one_site_key_is_limited_other_sites_are_served(limited: str) -> None:
    def post(i: int, key: str) -> tuple[int, dict[str, str], bytes]:
        headers = {"X-Listen-Key": key}
        return call(limited, "POST", "/api/v1/listen", f"127.0.1.{i}", {"text": TEXT}, **headers)

    # From 15 addresses, each well under its own limit: the site's limit bites.
    counter = iter(range(1, 16))
    results = flood(15, lambda: post(next(counter), NEWS_KEY))
    assert sorted(r[0] for r in results) == [202] * 10 + [429] * 5
    for result in results:
        if result[0] == 429:
            assert_rate_limited(result)
    assert post(100, BLOG_KEY)[0] == 202
    assert_rate_limited(post(101, NEWS_KEY))
    # A request without a key is refused for that reason, not counted as the site's.
    assert call(limited, "POST", "/api/v1/listen", "127.0.1.102", {"text": TEXT})[0] == 401


@pytest.mark.parametrize("limited", [{"LISTEN_RATE_LIMIT_STREAMS": "120/minute"}], indirect=True)
def test_stream_flood_from_one_address_is_limited_others_are_served(limited: str) -> None:
    job_id = queued_job(limited, "127.0.0.9")
    poll = f"/api/v1/jobs/{job_id}?wait=0"
    # 120 a minute per address, long polls and event streams together.
    results = flood(100, lambda: call(limited, "GET", poll, "127.0.0.2"))
    events = f"/api/v1/jobs/{job_id}/events"
    results += flood(30, lambda: call(limited, "GET", events, "127.0.0.2"))
    ok = [r for r in results if r[0] == 200]
    assert len(ok) == 120
    for result in results:
        if result[0] != 200:
            assert_rate_limited(result)
    assert_rate_limited(call(limited, "GET", f"/api/v1/jobs/{job_id}/events", "127.0.0.2"))
    # A status poll without ?wait= holds nothing and is not limited.
    assert call(limited, "GET", f"/api/v1/jobs/{job_id}", "127.0.0.2")[0] == 200
    assert call(limited, "GET", poll, "127.0.0.3")[0] == 200
    status, headers, raw = call(limited, "GET", f"/api/v1/jobs/{job_id}/events", "127.0.0.3")
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert b"event: status" in raw


@pytest.mark.parametrize("limited", [{**SITES, "LISTEN_RATE_LIMIT_STREAMS": ""}], indirect=True)
def test_stream_flood_with_one_site_key_is_limited(limited: str) -> None:
    status, _, raw = call(
        limited, "POST", "/api/v1/listen", "127.0.0.9", {"text": TEXT}, **{"X-Listen-Key": BLOG_KEY}
    )
    assert status == 202
    job_id = json.loads(raw)["id"]
    poll = f"/api/v1/jobs/{job_id}?wait=0"
    counter = iter(range(1, 13))
    results = flood(
        12,
        lambda: call(
            limited, "GET", poll, f"127.0.2.{next(counter)}", **{"X-Listen-Key": NEWS_KEY}
        ),
    )
    assert sorted(r[0] for r in results) == [200] * 10 + [429] * 2
    assert call(limited, "GET", poll, "127.0.2.50", **{"X-Listen-Key": BLOG_KEY})[0] == 200
    # Streams have a budget apart from POSTs: the site may still post.
    posted = call(
        limited,
        "POST",
        "/api/v1/listen",
        "127.0.2.51",
        {"text": TEXT},
        **{"X-Listen-Key": NEWS_KEY},
    )
    assert posted[0] == 202


@pytest.mark.parametrize(
    "limited", [{"LISTEN_PROXY_HOPS": 1, "LISTEN_RATE_LIMIT_POST": "3/minute"}], indirect=True
)
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(limited: str) -> None:
    def post(forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        return call(limited, "POST", "/api/v1/listen", "127.0.0.2", {"text": TEXT}, **headers)[0]

    assert [post("203.0.113.7") for _ in range(4)] == [202, 202, 202, 429]
    assert post("203.0.113.8") == 202
    # Only the hop our proxy added counts: a client cannot pick its own address.
    assert post("198.51.100.1, 203.0.113.7") == 429


@pytest.mark.parametrize("limited", [{"LISTEN_RATE_LIMIT_POST": "3/minute"}], indirect=True)
def test_without_a_trusted_proxy_forwarded_for_is_ignored(limited: str) -> None:
    statuses = [
        call(
            limited,
            "POST",
            "/api/v1/listen",
            "127.0.0.2",
            {"text": TEXT},
            **{"X-Forwarded-For": f"203.0.113.{i}"},
        )[0]
        for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]


def test_redis_mode_counts_across_web_processes(redis_client: Any, tmp_path: Any) -> None:
    """Two apps (two gunicorn workers, in effect) share one budget through Redis."""
    redis_client.flushdb()
    try:
        config = {
            "LISTEN_DATA_DIR": str(tmp_path / "data"),
            "LISTEN_BROKER_URL": REDIS_URL,
            "LISTEN_RATE_LIMIT_POST": "4/minute",
            "LISTEN_STALE_SECONDS": 3600,
        }
        servers = [serve(create_app(config)), serve(create_app(config))]
        first, second = (next(s) for s in servers)
        statuses = [
            call(base, "POST", "/api/v1/listen", "127.0.0.2", {"text": TEXT})[0]
            for base in (first, second, first, second, first, second)
        ]
        assert statuses == [202, 202, 202, 202, 429, 429]
        for s in servers:
            next(s, None)
    finally:
        redis_client.flushdb()


def test_the_default_stream_limit_stops_a_flood(limited: str) -> None:
    job_id = queued_job(limited, "127.0.0.9")
    # The default LISTEN_RATE_LIMIT_STREAMS: 600 a minute per address. 20
    # readers behind one address, all waiting for audio at once and turned
    # away by the hold bounds, ask about 216 a minute (the player reconnects
    # after the server's retry: or backs off to a long poll every 5 s).
    results = flood(620, lambda: call(limited, "GET", f"/api/v1/jobs/{job_id}?wait=0", "127.0.0.2"))
    assert sorted(r[0] for r in results) == [200] * 600 + [429] * 20


def test_the_documented_deployments_count_each_reader_apart() -> None:
    """nginx appends the client's address and says to trust one hop; Compose trusts none."""
    root = Path(__file__).resolve().parents[2]
    nginx = (root / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx
    assert "LISTEN_PROXY_HOPS=1" in nginx
    operations = (root / "docs" / "operations.md").read_text()
    behind_nginx = operations.split("## Behind nginx", 1)[1].split("\n## ", 1)[0]
    assert "LISTEN_PROXY_HOPS=1" in behind_nginx
    # Compose publishes web itself: the connecting address is the reader's.
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    assert web["ports"] and "LISTEN_PROXY_HOPS" not in web.get("environment", {})


FEED = {
    "LISTEN_SITE_KEYS": f"news:{NEWS_KEY}",
    "LISTEN_SITE_FEEDS": json.dumps({"news": {"title": "News", "link": "https://news.example"}}),
}


@pytest.mark.parametrize("limited", [FEED], indirect=True)
def test_a_podcast_feed_flood_from_one_address_is_limited(limited: str) -> None:
    # The default LISTEN_RATE_LIMIT_FEEDS: 60 a minute per address.
    results = flood(70, lambda: call(limited, "GET", "/feeds/news.xml", "127.0.2.1"))
    assert sorted(r[0] for r in results) == [200] * 60 + [429] * 10
    for result in results:
        if result[0] == 429:
            assert_rate_limited(result)
    assert call(limited, "GET", "/feeds/news.xml", "127.0.2.2")[0] == 200
