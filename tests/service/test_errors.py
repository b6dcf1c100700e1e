"""Every error a client can cause gets the right status and the one JSON error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from listen_service import create_app
from listen_service.openapi import openapi_document

ID = "ab" * 32


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_MAX_BODY_BYTES": 50_000, "LISTEN_MAX_CHARS": 500}
    )


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "words"),
    [
        (
            {"data": "{not json", "content_type": "application/json"},
            400,
            "malformed_json",
            "not valid JSON",
        ),
        (
            {"data": "text=hi", "content_type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
            "application/json",
        ),
        (
            {"data": "x" * 60_000, "content_type": "application/json"},
            413,
            "request_entity_too_large",
            "",
        ),
        ({"json": {"text": "word " * 200}}, 413, "text_too_long", "the limit is 500"),
        ({"json": ["a list"]}, 422, "invalid_field", "must be an object"),
        ({"json": {}}, 422, "invalid_field", "text is required"),
        ({"json": {"text": "Hi.", "speed": 2}}, 422, "invalid_field", "unknown field(s): speed"),
        ({"json": {"text": 42}}, 422, "invalid_field", "text must be of type str"),
        (
            {"json": {"text": "Hi.", "rate": "fast"}},
            422,
            "invalid_field",
            "rate must be of type int",
        ),
        ({"json": {"text": "Hi.", "rate": True}}, 422, "invalid_field", "rate must be of type int"),
        (
            {"json": {"text": "Hi.", "rate": 10}},
            422,
            "invalid_setting",
            "rate must be between 80 and 450",
        ),
        ({"json": {"text": "Hi.", "volume": 3}}, 422, "invalid_setting", "volume"),
        (
            {"json": {"text": "Hi.", "format": "flac"}},
            422,
            "invalid_setting",
            "format must be one of",
        ),
        (
            {"json": {"text": "Hi.", "voice": "no-such-voice"}},
            422,
            "unknown_voice",
            "no-such-voice",
        ),
        ({"json": {"text": "Hi.", "lang": "xx-nowhere"}}, 422, "unknown_voice", "xx-nowhere"),
        ({"json": {"text": "   \u200b\t\r\n "}}, 422, "empty_text", "no letters"),
        ({"json": {"text": "Hi.\x00"}}, 422, "invalid_field", "text holds a control character"),
        ({"json": {"text": "Hi.\x1b[31m"}}, 422, "invalid_field", "text holds a control"),
        ({"json": {"text": "Hi.", "title": "a\x00b"}}, 422, "invalid_field", "title holds a"),
        ({"json": {"text": "Hi.", "site": "\x00"}}, 422, "invalid_field", "site holds a"),
        ({"json": {"text": "Hi.", "site": "a\tb"}}, 422, "invalid_field", "U+0009"),
        ({"json": {"text": "Hi.", "voice": "en\x85"}}, 422, "invalid_field", "voice holds a"),
        ({"json": {"text": "Hi.", "lang": "en\x7f"}}, 422, "invalid_field", "lang holds a"),
        ({"json": {"text": "Hi.", "site": "s" * 201}}, 422, "invalid_field", "site must be at"),
        (
            {"data": "[" * 20_000 + "]" * 20_000, "content_type": "application/json"},
            400,
            "too_deeply_nested",
            "more than 32 levels",
        ),
        (
            {"data": '{"text": ' * 40 + '"x"' + "}" * 40, "content_type": "application/json"},
            400,
            "too_deeply_nested",
            "",
        ),
        ({"json": {"text": "Hi.", "title": "t" * 301}}, 422, "invalid_field", "title"),
        (
            {"data": '{"text": "Hello \\ud83d world."}', "content_type": "application/json"},
            422,
            "invalid_field",
            "text holds invalid Unicode",
        ),
    ],
)
def test_listen_rejects(
    app: Flask, kwargs: dict[str, Any], status: int, code: str, words: str
) -> None:
    error = error_of(app.test_client().post("/api/v1/listen", **kwargs), status)
    assert error["code"] == code
    assert words in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", f"/api/v1/jobs/{ID}", 404),
        ("get", "/api/v1/jobs/not-an-id", 404),
        ("get", f"/api/v1/jobs/{ID.upper()}", 404),
        ("get", f"/api/v1/jobs/{ID}/events", 404),
        ("get", "/api/v1/nowhere", 404),
        ("get", "/api/v1/listen", 405),
        ("delete", f"/api/v1/jobs/{ID}", 405),
        ("get", f"/audio/{ID}.mp3", 404),
        ("get", "/audio/..%2f..%2fetc%2fpasswd.mp3", 404),
    ],
)
def test_other_errors_share_the_shape(app: Flask, method: str, path: str, status: int) -> None:
    error_of(getattr(app.test_client(), method)(path), status)


def test_wait_must_be_a_number(app: Flask) -> None:
    assert (
        error_of(app.test_client().get(f"/api/v1/jobs/{ID}?wait=soon"), 422)["code"]
        == "invalid_field"
    )


def test_broker_unreachable_is_503_with_retry_after(tmp_path: Path) -> None:
    app = create_app(
        {"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_BROKER_URL": "redis://127.0.0.1:1/0"}
    )
    response = app.test_client().post("/api/v1/listen", json={"text": "Is anybody there?"})
    error = error_of(response, 503)
    assert response.headers["Retry-After"].isdigit()
    assert "try again" in error["message"]
    health = app.test_client().get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
    assert health.get_json()["broker"].startswith("unreachable")


def test_a_failed_publish_is_recorded_not_forgotten(tmp_path: Path) -> None:
    import redis

    from tests.service.conftest import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_BROKER_URL": "redis://127.0.0.1:1/0",
            "LISTEN_REDIS_URL": REDIS_URL,
        }
    )
    try:
        response = app.test_client().post("/api/v1/listen", json={"text": "Queue is down."})
        assert error_of(response, 503)["code"] == "broker_unavailable"
        (job_id,) = [k.decode().rsplit(":", 1)[1] for k in client.keys("listen:job:*")]
        status = app.test_client().get(f"/api/v1/jobs/{job_id}").get_json()
        assert status["status"] == "failed"
        assert status["error"]["code"] == "broker_unavailable"
    finally:
        client.flushdb()


def test_a_waiting_job_polled_past_the_stale_timeout_stays_queued_with_one_message(
    app: Flask,
) -> None:
    """No worker runs: polls find the message waiting in the broker, so they neither
    re-enqueue the job nor fail it (it used to be failed "job_lost" on the 5th poll)."""
    app.config["LISTEN_STALE_SECONDS"] = 0.0
    client = app.test_client()
    job = client.post("/api/v1/listen", json={"text": "Nobody runs this yet."}).get_json()
    statuses = [client.get(job["status_url"]).get_json() for _ in range(6)]
    assert [s["status"] for s in statuses] == ["queued"] * 6
    assert all("error" not in s for s in statuses)
    queue = Path(app.config["LISTEN_DATA_DIR"]) / "broker" / "queue"
    assert len([p for p in queue.iterdir() if p.name.endswith(".msg")]) == 1
    assert app.extensions["listen_jobs"].get(job["id"]).attempts == 0


def test_no_500_for_garbage_bodies(app: Flask) -> None:
    client = app.test_client()
    for body in [b"\xff\xfe\x00", b"null", b"[]", b'"text"', b'{"text": null}', b"1e999"]:
        response = client.post("/api/v1/listen", data=body, content_type="application/json")
        assert 400 <= response.status_code < 500, (body, response.status_code)


def _openapi_path(rule: Rule) -> str:
    path = rule.rule.replace("<job_id>", "{job_id}").replace("<site>", "{site}")
    return path.replace("/audio/<string:name>", "/audio/{id}.{ext}")


def test_openapi_matches_the_routes(app: Flask) -> None:
    doc = openapi_document(app.config)
    served = {
        (_openapi_path(rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in ("static", "player.demo")
        for method in rule.methods or ()
        # Flask answers HEAD for every GET; only the audio documents it.
        if method != "OPTIONS" and (method != "HEAD" or rule.endpoint.startswith("audio."))
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    documented_audio = {p for p in documented if p[0] == "/audio/{id}.json"}
    assert served == documented - documented_audio
    assert app.test_client().get("/api/v1/openapi.json").get_json() == doc


def test_what_the_schema_allows_is_accepted(app: Flask) -> None:
    """null for an optional field and 175.0 for an integer are valid by the OpenAPI schema."""
    client = app.test_client()
    plain = client.post("/api/v1/listen", json={"text": "Same audio.", "rate": 175})
    spelled = client.post(
        "/api/v1/listen", json={"text": "Same audio.", "rate": 175.0, "title": None}
    )
    assert plain.status_code == 202 and spelled.status_code == 202, spelled.get_data()
    assert spelled.get_json()["id"] == plain.get_json()["id"]


def test_healthz_names_the_failure_not_the_servers_paths(tmp_path: Path) -> None:
    import shutil

    app = create_app({"LISTEN_DATA_DIR": str(tmp_path / "data")})
    shutil.rmtree(tmp_path / "data" / "broker")
    health = app.test_client().get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["broker"] == "unreachable (FileNotFoundError)"
    assert str(tmp_path) not in health.get_data(as_text=True)
