"""Progressive audio: ``/audio/<id>.mp3`` plays while the job is working, in both modes.

Real worker processes, the real engine and ffmpeg, a real threaded HTTP
server; articles long enough that a job runs for several seconds.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ARTICLE, ffmpeg_killed_after, ffprobe, no_temp_files, require
from tests.service.conftest import Worker, start_worker
from tests.service.test_flow import wait_ready
from workers.live import playable_start
from workers.pipeline import Request, plan, synthesize

READ = 64 * 1024


def long_text(tag: str, copies: int) -> str:
    """About 460 words a copy; a copy takes about half a second to make here."""
    return f"{tag}.\n\n" + (ARTICLE.read_text() + "\n\n") * copies


def post_working(
    client: FlaskClient, text: str, fmt: str = "mp3", title: str | None = None
) -> dict[str, Any]:
    """POST ``text`` and return its job body once a worker is on it."""
    request = {"text": text, "format": fmt, "title": title}
    body: dict[str, Any] = client.post("/api/v1/listen", json=request).json
    assert body["status"] in ("queued", "working"), body
    deadline = time.monotonic() + 60
    while (status := client.get(body["status_url"]).json["status"]) != "working":
        assert status == "queued" and time.monotonic() < deadline, f"job never started: {status}"
        time.sleep(0.02)
    return body


def open_stream(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    conn.request(method, path, headers=headers or {})
    return conn, conn.getresponse()


def read_to_end(resp: http.client.HTTPResponse) -> bytes:
    """The rest of a chunked body; http.client raises if it ends without its last chunk."""
    out = bytearray()
    while chunk := resp.read1(READ):
        out += chunk
    return bytes(out)


def status_of(client: FlaskClient, body: dict[str, Any]) -> str:
    return str(client.get(body["status_url"]).json["status"])


def decodes(path: Path) -> None:
    ffmpeg = require("ffmpeg")
    result = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True
    )
    assert result.returncode == 0, result.stderr


def assert_live_headers(resp: http.client.HTTPResponse, content_type: str) -> None:
    assert resp.status == 200
    assert resp.getheader("Content-Type") == content_type
    assert resp.getheader("Content-Length") is None
    assert resp.getheader("ETag") is None
    assert resp.getheader("Cache-Control") == "no-store"


def test_audio_plays_while_the_job_is_working(
    app: Flask, worker: Worker, server: str, tmp_path: Path
) -> None:
    client = app.test_client()
    body = post_working(client, long_text("Plays while working", 10), title="Made: live")
    url = server + urllib.parse.urlsplit(body["audio_url"]).path

    conn, head = open_stream(url, "HEAD")
    assert_live_headers(head, "audio/mpeg")
    assert head.read() == b""
    conn.close()
    # Saved while it is made: named after the title posted, as the finished file will be.
    conn, saved = open_stream(url + "?download=1", "HEAD")
    assert_live_headers(saved, "audio/mpeg")
    assert saved.getheader("Content-Disposition") == (
        "attachment; filename=\"made-live.mp3\"; filename*=UTF-8''Made%20live.mp3"
    )
    conn.close()

    conn, resp = open_stream(url)
    assert_live_headers(resp, "audio/mpeg")
    assert resp.getheader("Transfer-Encoding") == "chunked"
    got, reads = bytearray(), 0
    while len(got) < 4 * READ:
        chunk = resp.read1(READ)
        assert chunk, "the stream ended early"
        got += chunk
        reads += 1
    prefix = tmp_path / "prefix.mp3"
    prefix.write_bytes(got)
    assert status_of(client, body) == "working", "the job ended before the prefix was read"
    assert reads > 1, "the audio came in one piece, not as it was made"
    assert ffprobe(prefix)["streams"][0]["codec_name"] == "mp3"
    decodes(prefix)

    # A reader who joins now still gets the audio from its start, whole: no ranges yet.
    late_conn, late = open_stream(url, headers={"Range": "bytes=1000-"})
    assert_live_headers(late, "audio/mpeg")
    whole = bytes(got) + read_to_end(resp)
    assert read_to_end(late) == whole
    conn.close()
    late_conn.close()

    done = wait_ready(client, body["status_url"])
    assert done["status"] == "ready"
    entry = app.extensions["listen_cache"].get(body["id"])
    finished = entry.audio_path.read_bytes()
    start = playable_start(finished, "mp3")
    # The stream is the finished file without the tag and Xing frame rewritten at its end.
    assert whole == finished[start:]
    streamed = tmp_path / "streamed.mp3"
    streamed.write_bytes(whole)
    decodes(streamed)
    assert float(ffprobe(streamed)["format"]["duration"]) == pytest.approx(
        entry.duration_s, abs=0.5
    )
    tags = ffprobe(entry.audio_path)["format"]["tags"]
    assert int(tags["TLEN"]) == round(entry.duration_s * 1000)
    assert not app.extensions["listen_cache"].live_path(body["id"], "mp3").exists()

    conn, final = open_stream(url)
    assert final.status == 200 and final.getheader("Content-Length") == str(len(finished))
    assert final.getheader("ETag") == f'"{entry.content_hash}"'
    assert "immutable" in final.getheader("Cache-Control", "")
    assert final.read() == finished
    conn.close()


def test_ogg_streams_too(app: Flask, worker: Worker, server: str) -> None:
    client = app.test_client()
    body = post_working(client, long_text("Opus as it is made", 6), fmt="ogg")
    conn, resp = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
    assert_live_headers(resp, "audio/ogg")
    whole = read_to_end(resp)
    conn.close()
    assert wait_ready(client, body["status_url"])["status"] == "ready"
    # Ffmpeg's Ogg muxer never seeks back: the stream is the whole file.
    assert whole == app.extensions["listen_cache"].get(body["id"]).audio_path.read_bytes()


def test_audio_not_yet_made_is_a_clear_404(app: Flask) -> None:
    """No worker: the job stays queued. WAV, timings and unknown ids never stream."""
    app.config["LISTEN_LIVE_STALE_SECONDS"] = 0.3  # how long a GET waits for a worker to start it
    client = app.test_client()
    for fmt in ("mp3", "wav"):
        body = client.post("/api/v1/listen", json={"text": "Wait for it.", "format": fmt}).json
        assert body["status"] == "queued"
        for method in ("GET", "HEAD"):
            resp = client.open(body["audio_url"], method=method)
            assert resp.status_code == 404
            if method == "GET":
                assert resp.json["error"]["code"] == "not_ready"
                status_path = urllib.parse.urlsplit(body["status_url"]).path
                assert status_path in resp.json["error"]["message"]
        assert client.get(body["timings_url"]).json["error"]["code"] == "not_ready"
        other = "ogg" if fmt == "mp3" else "mp3"
        wrong = client.get(body["audio_url"].replace(f".{fmt}", f".{other}"))
        assert wrong.status_code == 404 and wrong.json["error"]["code"] == "not_found"
    unknown = client.get(f"/audio/{'ef' * 32}.mp3")
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"


def test_a_get_of_a_queued_job_waits_for_a_worker_to_start_it(
    app: Flask, server: str, tmp_path: Path
) -> None:
    """A player asks for the audio right after its POST; the stream starts with the job."""
    app.config["LISTEN_LIVE_STALE_SECONDS"] = 60.0  # longer than a worker takes to start
    client = app.test_client()
    body = client.post("/api/v1/listen", json={"text": long_text("Asked for early", 3)}).json
    assert body["status"] == "queued"
    got: dict[str, Any] = {}

    def listen() -> None:
        conn, resp = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
        got["status"] = resp.status
        got["body"] = read_to_end(resp)
        conn.close()

    reader = threading.Thread(target=listen)
    reader.start()
    time.sleep(0.5)
    assert reader.is_alive() and status_of(client, body) == "queued", "not waited for"
    w = start_worker(app, tmp_path / "late.log")
    try:
        reader.join(120)
        assert wait_ready(client, body["status_url"])["status"] == "ready"
    finally:
        w.stop()
    assert got["status"] == 200
    finished = app.extensions["listen_cache"].get(body["id"]).audio_path.read_bytes()
    assert got["body"] == finished[playable_start(finished, "mp3") :]


def test_a_job_failing_mid_stream_ends_the_stream_and_caches_nothing(
    app: Flask, server: str, tmp_path: Path
) -> None:
    app.config["LISTEN_FFMPEG"] = str(ffmpeg_killed_after(4, tmp_path))
    app.config["LISTEN_TASK_MAX_RETRIES"] = 0
    w = start_worker(app, tmp_path / "failing.log")
    client = app.test_client()
    try:
        body = post_working(client, long_text("This will not finish", 30))
        conn, resp = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
        assert_live_headers(resp, "audio/mpeg")
        partial = read_to_end(resp)  # ends cleanly: http.client raises on a cut chunked body
        ended = time.monotonic()
        conn.close()
        done = wait_ready(client, body["status_url"], timeout=60)
    finally:
        w.stop()
    assert len(partial) > READ, "no audio was streamed before the failure"
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(partial)
    decodes(cut)
    assert done["status"] == "failed" and done["error"]["code"] == "encoder_failed"
    assert time.monotonic() - ended < 30
    cache = app.extensions["listen_cache"]
    assert cache.get(body["id"]) is None
    assert not cache.live_path(body["id"], "mp3").exists()
    assert no_temp_files(cache.audio_root) == []
    again = client.get(body["audio_url"])
    assert again.status_code == 404 and again.json["error"]["code"] == "not_ready"


def test_a_client_that_goes_away_frees_its_thread(app: Flask, worker: Worker, server: str) -> None:
    client = app.test_client()
    body = post_working(client, long_text("Nobody is listening", 20))
    idle = threading.active_count()
    conn, resp = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
    assert len(resp.read1(READ)) > 0
    assert threading.active_count() == idle + 1  # the server's thread for this stream
    resp.close()
    conn.close()
    deadline = time.monotonic() + 10
    while threading.active_count() > idle:
        assert time.monotonic() < deadline, "the stream's thread was not freed"
        time.sleep(0.05)
    # Freed because the client left, not because the job ended.
    assert status_of(client, body) == "working"


def test_a_killed_worker_ends_the_stream_and_the_redone_job_serves_the_whole_file(
    app: Flask, tmp_path: Path, server: str
) -> None:
    app.config["LISTEN_STALE_SECONDS"] = 3.0
    w = start_worker(app, tmp_path / "victim.log")
    client = app.test_client()
    try:
        body = post_working(client, long_text("Killed mid-article", 12))
        conn, resp = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
        assert len(resp.read1(READ)) > 0
        subprocess.run(["kill", "-9", *map(str, w.pool_children())], check=True)
        killed = time.monotonic()
        read_to_end(resp)
        stream_ended = time.monotonic() - killed
        conn.close()
        done = wait_ready(client, body["status_url"], timeout=240)
    finally:
        w.stop()
    # Within LISTEN_LIVE_STALE_SECONDS (5 s) of the file's last growth, with margin for load.
    assert stream_ended < 15
    assert done["status"] == "ready"
    entry = app.extensions["listen_cache"].get(body["id"])
    conn, final = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
    assert final.status == 200 and final.getheader("ETag") == f'"{entry.content_hash}"'
    assert final.read() == entry.audio_path.read_bytes()
    conn.close()
    assert float(ffprobe(entry.audio_path)["format"]["duration"]) == pytest.approx(
        entry.duration_s, abs=0.5
    )
    assert not app.extensions["listen_cache"].live_path(body["id"], "mp3").exists()


def test_a_stream_whose_whole_worker_died_ends_within_the_stale_bound(
    app: Flask, tmp_path: Path, server: str
) -> None:
    """No process is left to finish or replace the file: only its silence ends the stream."""
    app.config["LISTEN_STALE_SECONDS"] = 3.0
    w = start_worker(app, tmp_path / "victim.log")
    client = app.test_client()
    try:
        body = post_working(client, long_text("The whole worker dies", 12))
        conn, resp = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
        got = resp.read1(READ)
        assert len(got) > 0
        subprocess.run(["kill", "-9", str(w.proc.pid), *map(str, w.pool_children())], check=True)
        killed = time.monotonic()
        got += read_to_end(resp)
        stream_ended = time.monotonic() - killed
        conn.close()
    finally:
        w.stop()
    # Its last bytes may have been read just before the kill.
    stale = app.config["LISTEN_LIVE_STALE_SECONDS"]
    assert stale - 1 <= stream_ended < stale + 10
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(got)
    decodes(cut)
    # A new worker redoes the job; the same URL is then the whole file.
    w = start_worker(app, tmp_path / "rescuer.log")
    try:
        done = wait_ready(client, body["status_url"], timeout=240)
    finally:
        w.stop()
    assert done["status"] == "ready"
    entry = app.extensions["listen_cache"].get(body["id"])
    conn, final = open_stream(server + urllib.parse.urlsplit(body["audio_url"]).path)
    assert final.status == 200 and final.read() == entry.audio_path.read_bytes()
    conn.close()


def test_a_reader_who_arrives_as_the_job_finishes_gets_the_finished_file(
    app: Flask, engine: Any
) -> None:
    """The job says working but its live name is already gone: wait for the outcome, not 404."""
    app.config["LISTEN_LIVE_STALE_SECONDS"] = 30.0
    job = plan(Request(text="Just in time."), engine.voices())
    jobs = app.extensions["listen_jobs"]
    assert jobs.accept(job.key, {"text": "Just in time."})
    jobs.start(job.key, "this test")
    client = app.test_client()
    answer: dict[str, Any] = {}

    def get() -> None:
        answer["response"] = client.get(f"/audio/{job.key}.mp3")
        answer["at"] = time.monotonic()

    reader = threading.Thread(target=get)
    reader.start()
    time.sleep(0.5)
    assert reader.is_alive(), "the reader did not wait for the job"
    entry, _ = synthesize(job, cache=app.extensions["listen_cache"], engine=engine)
    jobs.finish(job.key, entry.duration_s)
    finished = time.monotonic()
    reader.join(60)
    response = answer["response"]
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{entry.content_hash}"'
    assert response.data == entry.audio_path.read_bytes()
    assert answer["at"] - finished < 5  # not the 30 s a live file would have been awaited
    response.close()


def test_a_working_job_that_never_shows_audio_is_not_ready_after_the_stale_bound(
    app: Flask,
) -> None:
    app.config["LISTEN_LIVE_STALE_SECONDS"] = 1.0
    jobs = app.extensions["listen_jobs"]
    job_id = "cd" * 32
    assert jobs.accept(job_id, {"text": "Stuck."})
    jobs.start(job_id, "a worker that died before it began")
    started = time.monotonic()
    response = app.test_client().get(f"/audio/{job_id}.mp3")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_ready"
    assert 1.0 <= time.monotonic() - started < 10


def test_audio_streams_count_against_the_stream_bounds(
    app: Flask, worker: Worker, server: str
) -> None:
    """A listener holds a web thread while the job works, so listeners are bounded like
    event streams: past the bound the answer is at once, 503 with Retry-After."""
    app.config["LISTEN_STREAMS_PER_CLIENT"] = 1
    app.extensions["listen_holds"].per_client = 1
    client = app.test_client()
    body = post_working(client, long_text("Bounded listeners", 10))
    url = server + urllib.parse.urlsplit(body["audio_url"]).path

    conn, first = open_stream(url)
    assert_live_headers(first, "audio/mpeg")
    assert first.read1(READ)
    extra_conn, extra = open_stream(url)
    assert extra.status == 503
    assert extra.getheader("Retry-After") == "2"
    assert extra.getheader("Content-Type") == "application/json"
    assert b'"streams_busy"' in extra.read()
    extra_conn.close()
    # HEAD holds nothing and is always answered.
    head_conn, head = open_stream(url, "HEAD")
    assert head.status == 200
    head_conn.close()

    read_to_end(first)  # the stream ends with the job and gives its slot back
    conn.close()
    # The server closes the body just after its last chunk went out.
    deadline = time.monotonic() + 10
    while app.extensions["listen_holds"].held() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.extensions["listen_holds"].held() == 0
    wait_ready(client, body["status_url"])
