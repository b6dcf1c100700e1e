"""`listen-service extract` as a user runs it: a real process on a file, stdin and a URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.test_extract import PAGE


def extract(*args: str, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "extract", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **env},
        timeout=60,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    path = tmp_path / "ferry.html"
    path.write_text(PAGE, encoding="utf-8")
    return path


@pytest.fixture
def site(page_file: Path) -> Iterator[str]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(page_file.parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _check_ferry(out: str) -> None:
    lines = out.splitlines()
    assert lines[0] == "Ferry returns to the island"
    assert lines[1].startswith("The ferry to the island runs again from Monday")
    assert "What changes for passengers" in lines
    assert "Sport" not in out


def test_a_file(page_file: Path) -> None:
    done = extract(str(page_file))
    assert done.returncode == 0, done.stderr
    _check_ferry(done.stdout)


def test_standard_input_as_json(page_file: Path) -> None:
    done = extract("-", "--json", stdin=page_file.read_bytes())
    assert done.returncode == 0, done.stderr
    article = json.loads(done.stdout)
    assert (article["title"], article["byline"], article["lang"]) == (
        "Ferry returns to the island",
        "Ada Quay",
        "en-GB",
    )
    assert "What changes for passengers" in article["blocks"]


def test_a_url_when_private_addresses_are_allowed(site: str) -> None:
    done = extract(f"{site}/ferry.html", LISTEN_FETCH_ALLOW_PRIVATE="1")
    assert done.returncode == 0, done.stderr
    _check_ferry(done.stdout)


def test_a_loopback_url_is_refused_by_default(site: str) -> None:
    done = extract(f"{site}/ferry.html")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "url_not_allowed" in done.stderr and "127.0.0.1" in done.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["/no/such/page.html"], None, "cannot read /no/such/page.html"),
        (["-"], b"<html><body></body></html>", "no article text found"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], stdin: bytes | None, message: str
) -> None:
    done = extract(*args, stdin=stdin)
    assert done.returncode == 2
    assert message in done.stderr
