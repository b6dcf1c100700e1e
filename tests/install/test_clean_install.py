"""`pip install listen` without extras serves audio in both modes, black-box.

Embedded: ``listen-service serve``. Redis: ``listen-service web`` (gunicorn)
and ``listen-service worker`` (Celery) sharing a broker. Each posts an
article, follows the job until it is ready and fetches MP3 bytes that
ffprobe accepts.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ffprobe
from tests.install.conftest import Install, Process, build_wheel, copy_sources

READY_WITHIN_S = 180


def call(
    url: str, server: Process, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """A JSON request; an error status fails the test with the server's log."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        pytest.fail(f"{url}: {exc.code} {exc.read()!r}\nserver log:\n{server.text()[-4000:]}")


def post_until_ready(base: str, server: Process, tmp_path: Path) -> dict[str, Any]:
    """POST an article, follow it to ``ready``, fetch its audio; ffprobe's view of the file."""
    # A number of its own per run: a record left in Redis by an earlier run
    # cannot answer for this job.
    text = f"A clean install reads this aloud. It is run number {random.randrange(10**6)}."
    status, job = call(f"{base}/api/v1/listen", server, {"text": text, "title": "Clean install"})
    assert status == 202, job
    for _ in range(READY_WITHIN_S // 10):
        if job["status"] in ("ready", "failed"):
            break
        _, job = call(f"{job['status_url']}?wait=10", server)
    assert job["status"] == "ready", job
    assert job["audio_url"].startswith(base + "/audio/"), job  # absolute, from the Host
    with urllib.request.urlopen(job["audio_url"], timeout=60) as response:
        assert response.headers["Content-Type"] == "audio/mpeg"
        audio = response.read()
    path = tmp_path / "audio.mp3"
    path.write_bytes(audio)
    return ffprobe(path)


def assert_speech(probe: dict[str, Any]) -> None:
    assert probe["format"]["format_name"] == "mp3"
    assert float(probe["format"]["duration"]) > 1.0
    assert probe["streams"][0]["codec_name"] == "mp3"


def test_embedded_serve_from_a_clean_install(
    installed: Install, tmp_path: Path, processes: list[Process]
) -> None:
    env = installed.env(tmp_path, LISTEN_DATA_DIR=str(tmp_path / "data"))
    serve = Process(
        [installed.bin("listen-service"), "serve", "--port", "0"], env, tmp_path, tmp_path / "log"
    )
    processes.append(serve)
    base = serve.wait_for(r"Listen is running at (http://\S+)/").group(1)
    # The demo page and the files it loads are in the wheel.
    for path, kind in [
        ("/", "text/html"),
        ("/player.js", "text/javascript"),
        ("/static/demo.css", "text/css"),
    ]:
        with urllib.request.urlopen(base + path, timeout=60) as response:
            assert response.headers["Content-Type"].startswith(kind), path
            assert response.read(), path
    assert_speech(post_until_ready(base, serve, tmp_path))


def test_redis_web_and_worker_from_a_clean_install(
    installed: Install, tmp_path: Path, processes: list[Process], redis_db: str
) -> None:
    env = installed.env(
        tmp_path, LISTEN_DATA_DIR=str(tmp_path / "data"), LISTEN_BROKER_URL=redis_db
    )
    cli = installed.bin("listen-service")
    worker = Process([cli, "worker", "--concurrency", "1"], env, tmp_path, tmp_path / "worker.log")
    processes.append(worker)
    web_argv = [cli, "web", "--bind", "127.0.0.1:0", "--workers", "1", "--threads", "4"]
    web = Process(web_argv, env, tmp_path, tmp_path / "web.log")
    processes.append(web)
    port = web.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1)
    worker.wait_for(r" ready\.")
    # listen-service worker becomes Celery (same pid) with malloc's huge pages asked for.
    environ = Path(f"/proc/{worker.proc.pid}/environ").read_bytes().split(b"\0")
    assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ
    assert_speech(post_until_ready(f"http://127.0.0.1:{port}", web, tmp_path))


def test_the_docker_dependency_layer_installs_what_the_wheel_declares(
    installed: Install, tmp_path: Path
) -> None:
    # The Dockerfile installs the project from pyproject.toml and README.md
    # alone before copying the code; that build must declare exactly the
    # dependencies of the real wheel, or the image's cached layer drifts.
    stub = copy_sources(tmp_path / "stub", packages=False)
    (tmp_path / "wheels").mkdir()
    layer = build_wheel(stub, tmp_path / "wheels")
    assert requires(layer) == requires(installed.wheel)
    assert any(line.startswith("celery[redis]") for line in requires(layer))


def requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's metadata."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
