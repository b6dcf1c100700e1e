"""CORS answers only configured origins; site keys gate posting when configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from listen_service import create_app
from workers.errors import ConfigError

SITE = "https://news.example"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_ALLOWED_ORIGINS": f"{SITE}, https://blog.example/",
            "LISTEN_SITE_KEYS": "News Daily:news-key-123,Blog:blog-key-456",
        }
    )


def test_allowed_origin_gets_cors_headers(app: Flask) -> None:
    response = app.test_client().get("/api/v1/voices", headers={"Origin": SITE})
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response.headers["Vary"]
    assert "Location" in response.headers["Access-Control-Expose-Headers"]
    # The player waits as long as a 429's Retry-After says.
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


def test_other_origins_get_none(app: Flask) -> None:
    response = app.test_client().get("/api/v1/voices", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight(app: Flask) -> None:
    client = app.test_client()
    ok = client.options(
        "/api/v1/listen",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-listen-key",
        },
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "X-Listen-Key" in ok.headers["Access-Control-Allow-Headers"]
    refused = client.options(
        "/api/v1/listen",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "origin_not_allowed"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, "missing_site_key"), ({"X-Listen-Key": "guess-key-000"}, 403, "unknown_site_key")],
)
def test_site_key_required_when_configured(
    app: Flask, headers: dict[str, str], status: int, code: str
) -> None:
    response = app.test_client().post("/api/v1/listen", json={"text": "Hi."}, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_known_key_names_the_artist(app: Flask) -> None:
    response = app.test_client().post(
        "/api/v1/listen", json={"text": "Hi there."}, headers={"X-Listen-Key": "news-key-123"}
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["embed_url"] == f"http://localhost/embed/{body['id']}"
    assert f'src="http://localhost/embed/{body["id"]}"' in body["embed_html"]
    payload = app.extensions["listen_jobs"].payload(body["id"])
    assert payload["artist"] == "News Daily"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("LISTEN_ALLOWED_ORIGINS", "news.example"),
        ("LISTEN_ALLOWED_ORIGINS", "https://news.example/path"),
        ("LISTEN_SITE_KEYS", "nokey"),
        ("LISTEN_SITE_KEYS", "site:short"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, setting: str, value: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        create_app({"LISTEN_DATA_DIR": str(tmp_path), setting: value})


def test_settings_survive_the_trip_to_a_child_process(app: Flask) -> None:
    from listen_service.config import load, to_env

    again = load(env=to_env(app.config))
    for name in ("LISTEN_ALLOWED_ORIGINS", "LISTEN_SITE_KEYS", "LISTEN_DATA_DIR"):
        assert again[name] == app.config[name]
