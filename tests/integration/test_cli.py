"""`listen-service` as a user runs it: a real process, real engine, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARTICLE, ffprobe


def cli(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LISTEN_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "listen_service.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_synth_the_sample_article(tmp_path: Path) -> None:
    out = tmp_path / "article.mp3"
    first = cli(tmp_path, "synth", str(ARTICLE), "-o", str(out), "--title", "Win-win", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["path"] == str(out) and result["cached"] is False
    assert len(result["id"]) == 64
    assert result["sentences"] == len(result["timings"]) > 10
    assert float(ffprobe(out)["format"]["duration"]) == pytest.approx(
        result["duration_s"], abs=0.15
    )
    assert out.read_bytes() == Path(result["cache_path"]).read_bytes()

    again = json.loads(cli(tmp_path, "synth", str(ARTICLE), "--title", "Win-win", "--json").stdout)
    assert again["cached"] is True and again["id"] == result["id"]


def test_synth_from_stdin_as_ogg(tmp_path: Path) -> None:
    done = cli(tmp_path, "synth", "-", "--format", "ogg", "--json", stdin="Read from a pipe.")
    assert done.returncode == 0, done.stderr
    path = Path(json.loads(done.stdout)["path"])
    assert path.suffix == ".ogg"
    assert ffprobe(path)["streams"][0]["codec_name"] == "opus"


def test_plain_output_is_one_line(tmp_path: Path) -> None:
    done = cli(tmp_path, "synth", "-", stdin="Short and sweet.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "1 sentences, synthesised" in done.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["synth", "-"], "   \n ", "no letters, digits or symbols"),
        (["synth", "/nonexistent/article.txt"], None, "cannot read /nonexistent/article.txt"),
        (["synth", "-", "--rate", "1000"], "Hi.", "rate must be between 80 and 450"),
        (["synth", "-", "--voice", "no-such-voice"], "Hi.", "unknown voice 'no-such-voice'"),
        (["cache", "prune"], None, "no size limit"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, args: list[str], stdin: str | None, message: str
) -> None:
    done = cli(tmp_path, *args, stdin=stdin)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_text_over_the_configured_maximum(tmp_path: Path) -> None:
    env_limited = {**os.environ, "LISTEN_DATA_DIR": str(tmp_path), "LISTEN_MAX_CHARS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "synth", "-"],
        input="word " * 50,
        capture_output=True,
        text=True,
        env=env_limited,
        timeout=60,
    )
    assert done.returncode == 2 and "limit is 100" in done.stderr


def test_voices_json(tmp_path: Path) -> None:
    voices = json.loads(cli(tmp_path, "voices", "--json").stdout)
    ids = {v["id"] for v in voices}
    assert {"gmw/en", "gmw/en-us", "sit/cmn", "piper:en_US-joe-medium"} <= ids
    assert set(voices[0]) == {"id", "name", "languages", "gender", "engine"}
    engines = {v["id"]: v["engine"] for v in voices}
    assert engines["gmw/en"] == "espeak-ng" and engines["piper:en_US-joe-medium"] == "piper"
    joe = next(v for v in voices if v["engine"] == "piper")
    assert joe["licence"] == "CC0" and joe["languages"] == ["en-us"]


def test_cache_stats_and_prune(tmp_path: Path) -> None:
    assert cli(tmp_path, "synth", "-", stdin="Keep me for a while.").returncode == 0
    stats = json.loads(cli(tmp_path, "cache", "stats").stdout)
    assert stats["entries"] == 1 and stats["bytes"] > 0
    pruned = cli(tmp_path, "cache", "prune", "--max-bytes", "0")
    assert pruned.stdout.startswith("evicted 1 entries")
    assert json.loads(pruned.stdout.splitlines()[-1])["entries"] == 0


def test_site_secret_makes_a_key_that_opens_the_publisher_api(tmp_path: Path) -> None:
    import re

    from listen_service import create_app

    done = cli(tmp_path, "site-secret", "news")
    assert done.returncode == 0, done.stderr
    secret = re.search(r"it is not stored\): (\S+)$", done.stdout, re.M)
    entry = re.search(r"LISTEN_SITE_ADMIN_TOKENS: (news:sha256:[0-9a-f]{64})$", done.stdout, re.M)
    assert secret and entry, done.stdout
    assert secret.group(1) not in entry.group(1)
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path / "data"),
            "LISTEN_SITE_KEYS": "news:news-public-key-0001",
            "LISTEN_SITE_ADMIN_TOKENS": entry.group(1),
        }
    )
    client = app.test_client()
    listing = "/api/v1/sites/news/articles"
    opened = client.get(listing, headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert opened.status_code == 200, opened.get_json()
    assert (
        client.get(listing, headers={"Authorization": "Bearer wrong-key-0123456789"}).status_code
        == 403
    )
    # Two runs, two keys; a name the setting cannot hold is refused.
    assert cli(tmp_path, "site-secret", "news").stdout != done.stdout
    refused = cli(tmp_path, "site-secret", "news:x")
    assert refused.returncode == 2 and "no ',' or ':'" in refused.stderr
