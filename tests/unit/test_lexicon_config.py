"""LISTEN_SITE_ADMIN_TOKENS: parsed, checked against the site keys, passed to child processes."""

from __future__ import annotations

import pytest

from listen_service.config import load, secret_digest, to_env
from workers.errors import ConfigError

KEYS = "news:news-public-key,blog:blog-public-key-0001"


def test_tokens_by_secret() -> None:
    config = load(
        env={
            "LISTEN_SITE_KEYS": KEYS,
            "LISTEN_SITE_ADMIN_TOKENS": " news:news-admin-secret-01 , news:rotated-secret-0002 ",
        }
    )
    # Kept hashed: the tokens themselves are nowhere in the configuration.
    assert config["LISTEN_SITE_ADMIN_TOKENS"] == {
        secret_digest("news-admin-secret-01"): "news",
        secret_digest("rotated-secret-0002"): "news",
    }
    assert "news-admin-secret-01" not in str(to_env(config))
    again = load(env=to_env(config))
    assert again["LISTEN_SITE_ADMIN_TOKENS"] == config["LISTEN_SITE_ADMIN_TOKENS"]


def test_a_token_may_be_configured_by_its_digest_only() -> None:
    digest = secret_digest("news-admin-secret-01")
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    config = load(env={"LISTEN_SITE_KEYS": KEYS, "LISTEN_SITE_ADMIN_TOKENS": f"news:{digest}"})
    assert config["LISTEN_SITE_ADMIN_TOKENS"] == {digest: "news"}


def test_none_by_default() -> None:
    assert load(env={})["LISTEN_SITE_ADMIN_TOKENS"] == {}


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        ("news:short-secret", "16 or more characters"),
        ("news-admin-secret-01", "must be site:key"),
        ("shop:shop-admin-secret-1", "'shop' is not a site in LISTEN_SITE_KEYS"),
        ("news:blog-public-key-0001", "is a site key, which is public"),
    ],
)
def test_bad_tokens_stop_the_service(tokens: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load(env={"LISTEN_SITE_KEYS": KEYS, "LISTEN_SITE_ADMIN_TOKENS": tokens})


def test_processes_we_start_get_the_digests_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from listen_service.run import hash_secrets_in_env

    env = {"LISTEN_SITE_KEYS": KEYS, "LISTEN_SITE_ADMIN_TOKENS": "news:news-admin-secret-01"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    hash_secrets_in_env(load(env=env))
    import os

    assert os.environ["LISTEN_SITE_ADMIN_TOKENS"] == f"news:{secret_digest('news-admin-secret-01')}"
    assert (
        load(env=dict(os.environ))["LISTEN_SITE_ADMIN_TOKENS"]
        == load(env=env)["LISTEN_SITE_ADMIN_TOKENS"]
    )
