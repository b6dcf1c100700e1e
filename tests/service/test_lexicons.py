"""The lexicon API, in both modes: who may edit, what is refused, where it is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from listen_service import create_app
from listen_service.lexicons import lexicon_for
from tests.service.conftest import JOBS_REDIS_URL

SITES = {
    "LISTEN_SITE_KEYS": "news:news-public-key,blog:blog-public-key",
    "LISTEN_SITE_ADMIN_TOKENS": "news:news-admin-secret-0001,blog:blog-admin-secret-0002",
}
NEWS = {"Authorization": "Bearer news-admin-secret-0001"}
URL = "/api/v1/sites/news/lexicon"
ENTRIES: list[dict[str, Any]] = [
    {"graphemes": ["HKTDC"], "alias": "H K T D C"},
    {"graphemes": ["Sima"], "phoneme": "ˈsiːmə", "alphabet": "ipa"},
]


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    return create_app({**service_config, **SITES})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return str(body["error"]["message"])


@pytest.mark.parametrize("method", ["get", "put"])
def test_without_a_token_401(client: FlaskClient, method: str) -> None:
    for headers in ({}, {"Authorization": "news-admin-secret-0001"}, {"Authorization": "Bearer "}):
        response = getattr(client, method)(URL, headers=headers, json=ENTRIES)
        error(response, 401, "missing_admin_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    [
        "wrong-token-of-enough-length",
        "blog-admin-secret-0002",  # another site's admin token
        "news-public-key",  # the site's public key is not its admin token
        "news-admin-secret-000",  # a prefix of the right one
    ],
)
@pytest.mark.parametrize("method", ["get", "put"])
def test_a_wrong_token_403(client: FlaskClient, method: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    response = getattr(client, method)(URL, headers=headers, json=ENTRIES)
    error(response, 403, "wrong_admin_token")
    assert client.get(URL, headers=NEWS).get_json() == []


def test_an_unknown_site_404(client: FlaskClient) -> None:
    error(client.get("/api/v1/sites/nosuch/lexicon", headers=NEWS), 404, "unknown_site")
    error(client.put("/api/v1/sites/nosuch/lexicon", json=[]), 404, "unknown_site")


def test_put_then_get_json(client: FlaskClient) -> None:
    assert client.get(URL, headers=NEWS).get_json() == []
    response = client.put(URL, headers=NEWS, json=ENTRIES)
    assert response.status_code == 200 and response.get_json() == ENTRIES
    got = client.get(URL, headers=NEWS)
    assert got.get_json() == ENTRIES
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Listen-Lexicon-Entries"] == "2"
    assert "Accept" in got.headers["Vary"]
    # The other site's lexicon is its own.
    blog = {"Authorization": "Bearer blog-admin-secret-0002"}
    assert client.get("/api/v1/sites/blog/lexicon", headers=blog).get_json() == []


def test_pls_round_trip_through_the_api(client: FlaskClient) -> None:
    client.put(URL, headers=NEWS, json=ENTRIES)
    pls = client.get(URL, headers={**NEWS, "Accept": "application/pls+xml"})
    assert pls.status_code == 200 and pls.mimetype == "application/pls+xml"
    assert b"<grapheme>HKTDC</grapheme>" in pls.data
    client.put(URL, headers=NEWS, json=[])
    assert client.get(URL, headers=NEWS).get_json() == []
    put = client.put(URL, headers=NEWS, data=pls.data, content_type="application/pls+xml")
    assert put.status_code == 200 and put.get_json() == ENTRIES
    again = client.get(URL, headers={**NEWS, "Accept": "application/pls+xml"})
    assert again.data == pls.data


def test_json_is_the_default_answer(client: FlaskClient) -> None:
    client.put(URL, headers=NEWS, json=ENTRIES)
    for accept in ("*/*", "application/json", "text/html"):
        got = client.get(URL, headers={**NEWS, "Accept": accept})
        assert got.mimetype == "application/json" and got.get_json() == ENTRIES, accept


BAD_BODIES = [  # media type, body, status, code, a piece of the message
    ("application/json", b'[{"grapheme": "ab"}]', 422, "invalid_lexicon", "entry 1 ('ab')"),
    (
        "application/json",
        '[{"grapheme": "ab", "phoneme": "ʘ"}]'.encode(),
        422,
        "invalid_lexicon",
        "ʘ",
    ),
    ("application/json", b'{"grapheme": "ab"}', 422, "invalid_lexicon", "JSON list"),
    ("application/json", b"[{", 400, "malformed_json", "not valid JSON"),
    ("application/pls+xml", b"<lexicon", 400, "malformed_pls", "not well-formed"),
    (
        "application/pls+xml",
        b'<!DOCTYPE l [<!ENTITY a "a">]><lexicon>&a;</lexicon>',
        400,
        "malformed_pls",
        "DTD",
    ),
    ("application/xml", b"<lexicon/>", 422, "invalid_lexicon", "root element"),
    ("text/plain", b"HKTDC=H K T D C", 415, "unsupported_media_type", "application/pls+xml"),
]


@pytest.mark.parametrize(("media_type", "body", "status", "code", "named"), BAD_BODIES)
def test_bad_bodies_are_refused_and_change_nothing(
    client: FlaskClient, media_type: str, body: bytes, status: int, code: str, named: str
) -> None:
    client.put(URL, headers=NEWS, json=ENTRIES)
    response = client.put(URL, headers=NEWS, data=body, content_type=media_type)
    assert named in error(response, status, code)
    assert client.get(URL, headers=NEWS).get_json() == ENTRIES


def test_a_body_over_the_limit_413(service_config: dict[str, Any]) -> None:
    app = create_app({**service_config, **SITES, "LISTEN_MAX_BODY_BYTES": 1000})
    client = app.test_client()
    big = [{"grapheme": f"word{i}", "alias": "x"} for i in range(100)]
    error(client.put(URL, headers=NEWS, json=big), 413, "request_entity_too_large")
    xml = app.test_client().get(URL, headers={**NEWS, "Accept": "application/pls+xml"}).data
    padded = xml.replace(b"<lexicon ", b"<lexicon " + b" " * 1000)
    response = client.put(URL, headers=NEWS, data=padded, content_type="application/pls+xml")
    error(response, 413, "request_entity_too_large")


def test_lexicon_for_follows_each_edit(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        assert len(lexicon_for("news")) == 0 and len(lexicon_for(None)) == 0
        client.put(URL, headers=NEWS, json=ENTRIES)
        assert lexicon_for("news").to_json() == ENTRIES
        # Edits in quick succession, each the same size: every one is seen.
        for alias in ("A B C D E", "F G H I J", "K L M N O"):
            client.put(URL, headers=NEWS, json=[{"grapheme": "HKTDC", "alias": alias}])
            assert lexicon_for("news").apply("HKTDC").text == alias
        assert len(lexicon_for("blog")) == 0
        client.put(URL, headers=NEWS, json=[])
        assert len(lexicon_for("news")) == 0


def test_storage_follows_the_mode(
    mode: str, app: Flask, client: FlaskClient, service_config: dict[str, Any], tmp_path: Path
) -> None:
    client.put(URL, headers=NEWS, json=ENTRIES)
    files = list((Path(service_config["LISTEN_DATA_DIR"]) / "lexicons").glob("*.json"))
    jobs_redis = redis.Redis.from_url(JOBS_REDIS_URL)
    if mode == "embedded":
        assert len(files) == 1 and not jobs_redis.exists("listen:lexicon:news")
    else:
        assert files == [] and jobs_redis.exists("listen:lexicon:news")
        # Another web machine, with a data directory of its own, sees the same lexicon.
        elsewhere = create_app({**service_config, **SITES, "LISTEN_DATA_DIR": str(tmp_path / "b")})
        with elsewhere.app_context():
            assert lexicon_for("news").to_json() == ENTRIES
    # A new process (a restarted web side) reads it back.
    with create_app({**service_config, **SITES}).app_context():
        assert lexicon_for("news").to_json() == ENTRIES
    client.put(URL, headers=NEWS, json=[])
    assert not list((Path(service_config["LISTEN_DATA_DIR"]) / "lexicons").glob("*.json"))
    assert not jobs_redis.exists("listen:lexicon:news")


def test_a_stored_lexicon_that_no_longer_validates_is_not_applied(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """As after an upgrade that narrowed a rule: articles are read without it, the log
    says why, and its editors see the entry at fault."""
    stale = b'{"site": "news", "entries": [{"graphemes": ["ab"], "phoneme": "\xca\x98"}]}'
    app.extensions["listen_lexicons"]._write("news", stale)
    with app.app_context():
        assert len(lexicon_for("news")) == 0
    assert "the lexicon of site 'news' is not applied" in caplog.text
    assert "'ʘ'" in error(client.get(URL, headers=NEWS), 422, "invalid_lexicon")
    assert client.put(URL, headers=NEWS, json=ENTRIES).status_code == 200
    with app.app_context():
        assert lexicon_for("news").to_json() == ENTRIES
