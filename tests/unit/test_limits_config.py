"""Settings of the client limits are checked when the app is built, not at the first request."""

from __future__ import annotations

from pathlib import Path

import pytest

from listen_service import create_app
from listen_service.config import load
from listen_service.run import FREE_WEB_THREADS, web_stream_bound
from workers.errors import ConfigError


@pytest.mark.parametrize(
    "setting, value",
    [
        ("LISTEN_RATE_LIMIT_POST", "lots"),
        ("LISTEN_RATE_LIMIT_STREAMS", "10 per fortnight"),
        ("LISTEN_RATE_LIMIT_SITE", "-3/minute"),
        ("LISTEN_PROXY_HOPS", -1),
        ("LISTEN_STREAMS_PER_PROCESS", -1),
    ],
)
def test_a_bad_limit_setting_is_a_config_error(tmp_path: Path, setting: str, value: object) -> None:
    with pytest.raises(ConfigError, match=setting):
        create_app({"LISTEN_DATA_DIR": str(tmp_path), setting: value})


def test_empty_rate_settings_mean_no_limit(tmp_path: Path) -> None:
    empty = {name: "" for name in ("LISTEN_RATE_LIMIT_POST", "LISTEN_RATE_LIMIT_STREAMS")}
    app = create_app({"LISTEN_DATA_DIR": str(tmp_path), **empty, "LISTEN_RATE_LIMIT_SITE": ""})
    client = app.test_client()
    statuses = {client.get(f"/api/v1/jobs/{'0' * 64}?wait=0").status_code for _ in range(200)}
    assert statuses == {404}


def test_web_keeps_threads_free_of_streams() -> None:
    config = load({"LISTEN_STREAMS_PER_PROCESS": 8}, env={})
    assert web_stream_bound(config, threads=16) == 8
    assert web_stream_bound(config, threads=8) == 8 - FREE_WEB_THREADS
    assert web_stream_bound(config, threads=2) == 1
