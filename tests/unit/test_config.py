"""Settings are loaded in one place; the cache the app and CLI open follows them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from listen_service.config import load, open_cache, to_env
from workers.errors import ConfigError


def test_data_dir_and_cache_cap_come_from_the_environment(tmp_path: Path) -> None:
    cache = open_cache(
        load(env={"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_CACHE_MAX_BYTES": "5000"})
    )
    assert cache.max_bytes == 5000
    assert cache.root == tmp_path
    assert cache.audio_root == tmp_path / "audio"


def test_zero_cap_means_unlimited(tmp_path: Path) -> None:
    cache = open_cache(load(env={"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_CACHE_MAX_BYTES": "0"}))
    assert cache.max_bytes is None


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="XDG applies off macOS")
def test_data_dir_defaults_to_xdg_data_home(tmp_path: Path) -> None:
    config = load(env={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert config["LISTEN_DATA_DIR"] == tmp_path / "xdg" / "listen"
    assert open_cache(config).max_bytes is None
    config = load(env={"HOME": str(tmp_path), "XDG_DATA_HOME": "relative"})
    assert config["LISTEN_DATA_DIR"] == tmp_path / ".local" / "share" / "listen"


def test_a_non_integer_cap_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LISTEN_CACHE_MAX_BYTES"):
        load(env={"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_CACHE_MAX_BYTES": "1GB"})


@pytest.mark.parametrize(
    ("broker", "jobs"),
    [
        ("redis://cache:6379/0", "redis://cache:6379/1"),
        ("redis://cache:6379", "redis://cache:6379/1"),
        ("redis://:secret@cache/7?socket_timeout=3", "redis://:secret@cache/8?socket_timeout=3"),
        ("rediss://cache/?db=4", "rediss://cache/5"),
        ("redis://cache/14", "redis://cache/15"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock?db=1"),
        ("unix:///run/redis.sock?db=3&password=x", "unix:///run/redis.sock?password=x&db=4"),
    ],
)
def test_job_records_default_to_the_db_after_the_brokers(broker: str, jobs: str) -> None:
    config = load({"LISTEN_BROKER_URL": broker}, env={})
    assert config["LISTEN_REDIS_URL"] == jobs
    assert (
        load({"LISTEN_BROKER_URL": broker, "LISTEN_REDIS_URL": broker}, env={})["LISTEN_REDIS_URL"]
        == broker
    )  # an explicit choice stands


@pytest.mark.parametrize("broker", ["redis://cache/15", "unix:///run/redis.sock?db=15"])
def test_a_broker_on_the_last_db_needs_an_explicit_job_store(broker: str) -> None:
    """A default Redis has /0 to /15: a job store on /16 failed every POST with
    "DB index is out of range". It is refused at start, naming the fix."""
    with pytest.raises(ConfigError, match="set LISTEN_REDIS_URL"):
        load({"LISTEN_BROKER_URL": broker}, env={})
    chosen = "redis://cache/3"
    assert (
        load({"LISTEN_BROKER_URL": broker, "LISTEN_REDIS_URL": chosen}, env={})["LISTEN_REDIS_URL"]
        == chosen
    )


def test_a_socket_broker_needs_an_explicit_job_store() -> None:
    with pytest.raises(ConfigError, match="set LISTEN_REDIS_URL"):
        load({"LISTEN_BROKER_URL": "redis+socket:///run/redis.sock"}, env={})


def test_a_broker_url_with_a_bad_db_number_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="database number"):
        load({"LISTEN_BROKER_URL": "redis://cache/zero"}, env={})


@pytest.mark.parametrize("keys", ["", "News Daily:news-key-123"])
def test_the_demo_site_must_be_a_configured_site(tmp_path: Path, keys: str) -> None:
    with pytest.raises(ConfigError, match="LISTEN_DEMO_SITE"):
        load(
            env={
                "LISTEN_DATA_DIR": str(tmp_path),
                "LISTEN_SITE_KEYS": keys,
                "LISTEN_DEMO_SITE": "Demo",
            }
        )
    config = load(env={"LISTEN_SITE_KEYS": "Demo:demo-key-789", "LISTEN_DEMO_SITE": "Demo"})
    assert config["LISTEN_DEMO_SITE"] == "Demo"


def test_an_empty_rate_limit_in_the_environment_means_no_limit(tmp_path: Path) -> None:
    """As the settings table says: an operator lifts a limit with an empty value."""
    base = {"LISTEN_DATA_DIR": str(tmp_path)}
    assert load(env=base)["LISTEN_RATE_LIMIT_POST"] == "30/minute;300/hour"
    config = load(env={**base, "LISTEN_RATE_LIMIT_POST": "", "LISTEN_RATE_LIMIT_STREAMS": " "})
    assert config["LISTEN_RATE_LIMIT_POST"] == "" and config["LISTEN_RATE_LIMIT_STREAMS"] == ""
    # Elsewhere an empty value is no value: the default stays.
    assert load(env={**base, "LISTEN_ESPEAK": ""})["LISTEN_ESPEAK"] == "auto"


def test_sites_that_switched_analytics_off_must_be_configured_sites(tmp_path: Path) -> None:
    env = {"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_SITE_KEYS": "news:news-key-123"}
    with pytest.raises(ConfigError, match="LISTEN_ANALYTICS_OFF_SITES: 'blog'"):
        load(env={**env, "LISTEN_ANALYTICS_OFF_SITES": "news, blog"})
    config = load(env={**env, "LISTEN_ANALYTICS_OFF_SITES": " news ", "LISTEN_ANALYTICS": "0"})
    assert config["LISTEN_ANALYTICS_OFF_SITES"] == ("news",)
    assert config["LISTEN_ANALYTICS"] is False
    # As a child process gets them (config.to_env), they read the same.
    assert load(env=to_env(config)) == config


def test_site_voices_are_site_voice_pairs_of_configured_sites(tmp_path: Path) -> None:
    from listen_service.config import site_voices

    keys = "news:news-public-key-0001,blog:blog-public-key-0001"
    config = load(
        env={
            "LISTEN_DATA_DIR": str(tmp_path),
            "LISTEN_SITE_KEYS": keys,
            "LISTEN_SITE_VOICES": " news:piper:en_US-joe-medium , blog:gmw/en-us",
        }
    )
    assert site_voices(config) == {"news": "piper:en_US-joe-medium", "blog": "gmw/en-us"}
    assert load(env=to_env(config))["LISTEN_SITE_VOICES"] == config["LISTEN_SITE_VOICES"]
    for raw, problem in (("shop:gmw/en", "'shop' is not a site"), ("news", "must be site:voice")):
        with pytest.raises(ConfigError, match=problem):
            load(env={"LISTEN_SITE_KEYS": keys, "LISTEN_SITE_VOICES": raw})
