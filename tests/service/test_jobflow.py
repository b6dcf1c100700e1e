"""A job's state as polls see it: evicted audio, and a broker that cannot take the job."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import redis
from flask import Flask

from listen_service import create_app
from tests.service.conftest import JOBS_REDIS_URL

PAYLOAD = {"text": "Heard once, evicted since."}


def evicted(app: Flask, job_id: str, site: str = "") -> None:
    """A job recorded ready whose audio is not in the cache (evicted)."""
    store = app.extensions["listen_jobs"]
    payload = {**PAYLOAD, "artist": site} if site else PAYLOAD
    assert store.accept(job_id, payload, site=site)
    store.finish(job_id, 3.0)


def test_an_evicted_job_is_queued_again_under_its_site(tmp_path: Path) -> None:
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_SITE_KEYS": "news:news-key-123",
            "LISTEN_SITE_MAX_QUEUED": 1,
        }
    )
    store = app.extensions["listen_jobs"]
    job_id = secrets.token_hex(32)
    evicted(app, job_id, "news")
    client = app.test_client()
    polls = [client.get(f"/api/v1/jobs/{job_id}") for _ in range(3)]
    assert [p.status_code for p in polls] == [200] * 3
    assert [p.get_json()["status"] for p in polls] == ["queued"] * 3
    queue = tmp_path / "broker" / "queue"
    assert len([p for p in queue.iterdir() if p.name.endswith(".msg")]) == 1
    # It counts against its site's cap again.
    posted = client.post(
        "/api/v1/listen", json={"text": "Another one."}, headers={"X-Listen-Key": "news-key-123"}
    )
    assert posted.status_code == 429 and posted.get_json()["error"]["code"] == "queue_full"
    assert store.unfinished() == [job_id]


def test_an_evicted_job_over_its_sites_cap_is_not_requeued(tmp_path: Path) -> None:
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_SITE_KEYS": "news:news-key-123",
            "LISTEN_SITE_MAX_QUEUED": 1,
        }
    )
    store = app.extensions["listen_jobs"]
    job_id = secrets.token_hex(32)
    evicted(app, job_id, "news")
    assert store.accept(secrets.token_hex(32), PAYLOAD, site="news")
    response = app.test_client().get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 429 and response.headers["Retry-After"].isdigit()
    job = store.get(job_id)
    assert job is not None and job.status == "ready"


@pytest.fixture
def jobs_redis() -> redis.Redis:
    client = redis.Redis.from_url(JOBS_REDIS_URL)
    client.flushdb()
    yield client  # type: ignore[misc]
    client.flushdb()


def unreachable_broker_app(tmp_path: Path, broker: str) -> Flask:
    return create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_BROKER_URL": broker,
            "LISTEN_REDIS_URL": JOBS_REDIS_URL,
        }
    )


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:1/0", "amqp://guest@127.0.0.1:1//"])
def test_a_poll_of_a_lost_job_survives_an_unreachable_broker(
    tmp_path: Path, jobs_redis: redis.Redis, broker: str
) -> None:
    """redis: the broker cannot be asked about the message; amqp (a broker we
    cannot look into): the job is taken over but cannot be enqueued."""
    app = unreachable_broker_app(tmp_path, broker)
    store = app.extensions["listen_jobs"]
    job_id = secrets.token_hex(32)
    assert store.accept(job_id, PAYLOAD)
    app.config["LISTEN_STALE_SECONDS"] = app.config["LISTEN_LEASE_SECONDS"] = 0.01
    time.sleep(0.05)
    client = app.test_client()
    response = client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "queued"
    # Still queued, not failed: the sweep re-drives it once the broker is back.
    job = store.get(job_id)
    assert job is not None and job.status == "queued"


def test_a_post_that_cannot_enqueue_an_evicted_job_still_answers_503(
    tmp_path: Path, jobs_redis: redis.Redis
) -> None:
    app = unreachable_broker_app(tmp_path, "redis://127.0.0.1:1/0")
    client = app.test_client()
    # The id the POST below computes.
    from listen_service.jobflow import voices
    from workers.pipeline import Request, plan

    job_id = plan(Request(**PAYLOAD), voices()).key  # type: ignore[arg-type]
    evicted(app, job_id)
    response = client.post("/api/v1/listen", json=PAYLOAD)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "broker_unavailable"
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 200


def test_a_job_store_that_is_down_is_503_on_every_job_route_and_documented(
    tmp_path: Path,
) -> None:
    app = create_app(
        {"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    client = app.test_client()
    job_id = secrets.token_hex(32)
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/events"):
        response = client.get(path)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers["Retry-After"].isdigit()
        documented = path.replace(job_id, "{job_id}")
        assert "503" in doc["paths"][documented]["get"]["responses"]
