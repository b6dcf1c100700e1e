"""``/audio/<id>.<ext>`` and ``/audio/<id>.json`` over real cached files, in process and by curl."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.http import http_date
from werkzeug.serving import make_server

from audio_cache import AudioCache, Entry
from listen_service import audio, errors
from tests.conftest import require

ENCODERS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "ogg": ["-c:a", "libopus", "-b:a", "32k"],
    "wav": ["-c:a", "pcm_s16le"],
}
TIMINGS = [
    {"index": 0, "paragraph": 0, "start_ms": 0, "end_ms": 1400, "char_start": 0, "char_end": 12},
    {
        "index": 1,
        "paragraph": 0,
        "start_ms": 1650,
        "end_ms": 3000,
        "char_start": 13,
        "char_end": 30,
    },
]
NOT_FOUND = "no audio with this id; POST /api/v1/listen to create it"


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A three-second tone in each format, encoded once by real ffmpeg."""
    ffmpeg = require("ffmpeg")
    out = tmp_path_factory.mktemp("tones")
    paths = {}
    for fmt, codec in ENCODERS.items():
        path = out / f"tone.{fmt}"
        rate = "48000" if fmt == "ogg" else "22050"
        tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ac", "1", "-ar", rate]
        subprocess.run([ffmpeg, "-v", "error", *tone, *codec, str(path)], check=True)
        paths[fmt] = path
    return paths


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        LISTEN_DATA_DIR=tmp_path / "data",
        LISTEN_SENDFILE_HEADER="",
        LISTEN_SENDFILE_PREFIX="/_listen_audio",
        LISTEN_PUBLIC_URL="",
    )
    app.extensions["listen_cache"] = AudioCache(tmp_path / "data")
    errors.init_app(app)
    app.register_blueprint(audio.bp)
    return app


class BufferedClient(FlaskClient):
    """Closes each response as a WSGI server would, so the served file is closed too."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = BufferedClient
    return app.test_client()


@pytest.fixture
def cache(app: Flask) -> AudioCache:
    c: AudioCache = app.extensions["listen_cache"]
    return c


def store(cache: AudioCache, sources: dict[str, Path], fmt: str = "mp3", seed: str = "x") -> Entry:
    key = hashlib.sha256(seed.encode()).hexdigest()
    tmp = cache.temp_path(key, f".{fmt}")
    shutil.copyfile(sources[fmt], tmp)
    meta = {"timings": TIMINGS, "voice": "en-gb", "rate": 175, "sentences": 2, "paragraphs": 1}
    return cache.put(key, tmp, fmt=fmt, duration_s=3.0, title="A tone", meta=meta)


@pytest.fixture
def mp3(cache: AudioCache, sources: dict[str, Path]) -> Entry:
    return store(cache, sources, "mp3")


@pytest.fixture
def wav(cache: AudioCache, sources: dict[str, Path]) -> Entry:
    """Bigger than one read chunk, so ranges cross chunk boundaries."""
    entry = store(cache, sources, "wav", seed="wav")
    assert entry.bytes > 2 * 64 * 1024
    return entry


def url(entry: Entry, ext: str | None = None) -> str:
    return f"/audio/{entry.key}.{ext or entry.fmt}"


def assert_not_found(response: Any, message: str | None = NOT_FOUND) -> None:
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    if response.request.method == "HEAD":
        return
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "not_found"
    assert set(body["error"]) == {"code", "message"}
    if message:
        assert body["error"]["message"] == message


# -- whole files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("mp3", "audio/mpeg"), ("ogg", "audio/ogg"), ("wav", "audio/wav")]
)
def test_get_serves_the_file_with_caching_headers(
    client: FlaskClient, cache: AudioCache, sources: dict[str, Path], fmt: str, content_type: str
) -> None:
    entry = store(cache, sources, fmt)
    response = client.get(url(entry))
    data = sources[fmt].read_bytes()
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Last-Modified"] == http_date(int(entry.created))
    assert "Content-Range" not in response.headers


def test_head_sends_the_headers_of_get_and_no_body(client: FlaskClient, mp3: Entry) -> None:
    got = client.get(url(mp3))
    head = client.head(url(mp3))
    assert head.status_code == 200
    assert head.data == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control", "Accept-Ranges"):
        assert head.headers[name] == got.headers[name]


def test_head_ignores_range_as_rfc_9110_requires(client: FlaskClient, mp3: Entry) -> None:
    head = client.head(url(mp3), headers={"Range": "bytes=0-99"})
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(mp3.bytes)


# -- ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-100000", 1000, 100001),  # crosses read chunks
        ("bytes=70000-", 70000, None),  # open: what players send when seeking
        ("bytes=-500", -500, None),  # suffix
        ("bytes=-999999999", 0, None),  # suffix longer than the file: all of it
        ("bytes=100-999999999", 100, None),  # end past the file: clamped
        ("bytes=5-5", 5, 6),
        ("BYTES = 10-19", 10, 20),  # the unit is case-insensitive; OWS is tolerated
        ("bytes=0-9,", 0, 10),  # an empty list element is not a second range
    ],
)
def test_a_single_range_is_206_with_the_exact_slice(
    client: FlaskClient, wav: Entry, header: str, start: int, stop: int | None
) -> None:
    data = wav.audio_path.read_bytes()
    expected = data[start:stop]
    first = data.index(expected) if start < 0 else start
    response = client.get(url(wav), headers={"Range": header})
    assert response.status_code == 206
    assert response.data == expected
    assert response.headers["Content-Length"] == str(len(expected))
    assert response.headers["Content-Range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )
    assert response.headers["ETag"] == f'"{wav.content_hash}"'
    assert response.headers["Content-Type"] == "audio/wav"


@pytest.mark.parametrize("header", ["bytes=999999999-", f"bytes={10**40}-", "bytes=-0"])
def test_unsatisfiable_range_is_416_with_the_length(
    client: FlaskClient, mp3: Entry, header: str
) -> None:
    response = client.get(url(mp3), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{mp3.bytes}"
    assert response.get_json()["error"]["code"] == "range_not_satisfiable"


def test_range_starting_at_the_length_is_416(client: FlaskClient, mp3: Entry) -> None:
    response = client.get(url(mp3), headers={"Range": f"bytes={mp3.bytes}-"})
    assert response.status_code == 416


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=5-2",  # last before first: invalid
        "bytes=-",
        "bytes 0-99",
        "items=0-99",
        "bytes=0x10-20",
        "bytes=\u0661-9",  # a non-ASCII digit
        "bytes=0-99,200-299",  # several ranges: the whole file, by choice
        "bytes=999999999-,0-1",
    ],
)
def test_malformed_or_multiple_ranges_are_ignored(
    client: FlaskClient, mp3: Entry, header: str
) -> None:
    response = client.get(url(mp3), headers={"Range": header})
    assert response.status_code == 200
    assert response.data == mp3.audio_path.read_bytes()
    assert "Content-Range" not in response.headers


# -- conditional requests -------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    ['"{h}"', 'W/"{h}"', '"other", "{h}"', '"other",W/"{h}"', "*"],
)
def test_if_none_match_is_304_without_body(client: FlaskClient, mp3: Entry, template: str) -> None:
    response = client.get(url(mp3), headers={"If-None-Match": template.format(h=mp3.content_hash)})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == f'"{mp3.content_hash}"'
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_if_none_match_wins_over_range(client: FlaskClient, mp3: Entry) -> None:
    response = client.get(
        url(mp3), headers={"If-None-Match": f'"{mp3.content_hash}"', "Range": "bytes=0-9"}
    )
    assert response.status_code == 304


def test_other_etag_is_200(client: FlaskClient, mp3: Entry) -> None:
    response = client.get(url(mp3), headers={"If-None-Match": '"0000"'})
    assert response.status_code == 200
    assert len(response.data) == mp3.bytes


def test_if_modified_since(client: FlaskClient, mp3: Entry) -> None:
    later = formatdate(mp3.created + 60, usegmt=True)
    earlier = formatdate(mp3.created - 60, usegmt=True)
    exact = http_date(int(mp3.created))
    assert client.get(url(mp3), headers={"If-Modified-Since": later}).status_code == 304
    assert client.get(url(mp3), headers={"If-Modified-Since": exact}).status_code == 304
    assert client.get(url(mp3), headers={"If-Modified-Since": earlier}).status_code == 200
    assert client.get(url(mp3), headers={"If-Modified-Since": "garbage"}).status_code == 200
    # If-None-Match, when present, decides alone.
    both = {"If-Modified-Since": later, "If-None-Match": '"0000"'}
    assert client.get(url(mp3), headers=both).status_code == 200


def test_if_range_with_our_etag_honours_the_range(client: FlaskClient, mp3: Entry) -> None:
    response = client.get(
        url(mp3), headers={"Range": "bytes=10-19", "If-Range": f'"{mp3.content_hash}"'}
    )
    assert response.status_code == 206
    assert response.data == mp3.audio_path.read_bytes()[10:20]


@pytest.mark.parametrize(
    "template", ['"other"', 'W/"{h}"', "Wed, 21 Oct 2099 07:28:00 GMT", "{date}", "nonsense"]
)
def test_if_range_with_anything_else_sends_the_whole_file(
    client: FlaskClient, mp3: Entry, template: str
) -> None:
    if_range = template.format(h=mp3.content_hash, date=http_date(int(mp3.created)))
    response = client.get(url(mp3), headers={"Range": "bytes=10-19", "If-Range": if_range})
    assert response.status_code == 200
    assert response.data == mp3.audio_path.read_bytes()


def test_if_match(client: FlaskClient, mp3: Entry) -> None:
    ok = client.get(url(mp3), headers={"If-Match": f'"{mp3.content_hash}"'})
    assert ok.status_code == 200
    weak = client.get(url(mp3), headers={"If-Match": f'W/"{mp3.content_hash}"'})
    assert weak.status_code == 412  # If-Match compares strongly
    assert weak.get_json()["error"]["code"] == "precondition_failed"


# -- hand-off to the front server -----------------------------------------------


def test_x_accel_redirect_hands_off_with_an_empty_body(
    app: Flask, client: FlaskClient, cache: AudioCache, mp3: Entry
) -> None:
    app.config["LISTEN_SENDFILE_HEADER"] = "X-Accel-Redirect"
    k = mp3.key
    response = client.get(url(mp3), headers={"Range": "bytes=0-99"})
    assert response.status_code == 200  # nginx does the range
    assert response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"/_listen_audio/{k[:2]}/{k[2:4]}/{k}.mp3"
    # The header names the file below <data dir>/audio.
    assert cache.audio_root / response.headers["X-Accel-Redirect"][15:] == mp3.audio_path
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["ETag"] == f'"{mp3.content_hash}"'
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Range" not in response.headers

    not_modified = client.get(url(mp3), headers={"If-None-Match": f'"{mp3.content_hash}"'})
    assert not_modified.status_code == 304
    assert "X-Accel-Redirect" not in not_modified.headers


def test_x_accel_redirect_prefix_is_configurable(
    app: Flask, client: FlaskClient, mp3: Entry
) -> None:
    app.config.update(LISTEN_SENDFILE_HEADER="X-Accel-Redirect", LISTEN_SENDFILE_PREFIX="/int/")
    header = client.get(url(mp3)).headers["X-Accel-Redirect"]
    assert header.startswith("/int/")
    assert header.endswith(f"/{mp3.key}.mp3")
    assert "//" not in header


def test_x_sendfile_names_the_absolute_path(app: Flask, client: FlaskClient, mp3: Entry) -> None:
    app.config["LISTEN_SENDFILE_HEADER"] = "X-Sendfile"
    response = client.get(url(mp3))
    assert response.status_code == 200
    assert response.data == b""
    path = Path(response.headers["X-Sendfile"])
    assert path.is_absolute()
    assert path.read_bytes() == mp3.audio_path.read_bytes()
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["ETag"] == f'"{mp3.content_hash}"'


# -- not found ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/audio/..%2f..%2fetc%2fpasswd.mp3",
        "/audio/..%2F..%2F..%2Fetc%2Fpasswd",
        "/audio/%2e%2e.mp3",
        "/audio/{upper}.mp3",
        "/audio/{key}.mp3.json",
        "/audio/{key}.json.mp3",
        "/audio/{key}.exe",
        "/audio/{key}.MP3",
        "/audio/{key}",
        "/audio/{key}.",
        "/audio/{key}..mp3",
        "/audio/{short}.mp3",
        "/audio/{key}0.mp3",
        "/audio/{key}%00.mp3",
        "/audio/{key}.mp3/",
        "/audio/ {key}.mp3",
    ],
)
def test_anything_but_an_id_and_a_known_extension_is_404(
    client: FlaskClient, mp3: Entry, path: str
) -> None:
    path = path.format(key=mp3.key, upper=mp3.key.upper(), short=mp3.key[:63])
    assert_not_found(client.get(path), message=None)


def test_unknown_id_is_404_pointing_at_the_api(client: FlaskClient) -> None:
    key = hashlib.sha256(b"never stored").hexdigest()
    assert_not_found(client.get(f"/audio/{key}.mp3"))
    assert_not_found(client.get(f"/audio/{key}.json"))
    assert_not_found(client.head(f"/audio/{key}.mp3"))


def test_another_format_of_a_stored_id_is_404(client: FlaskClient, mp3: Entry) -> None:
    assert_not_found(client.get(url(mp3, "ogg")))
    assert_not_found(client.get(url(mp3, "wav")))


def test_a_corrupt_file_is_404_not_500(client: FlaskClient, mp3: Entry) -> None:
    with mp3.audio_path.open("r+b") as f:
        f.truncate(mp3.bytes // 2)
    assert_not_found(client.get(url(mp3)))
    assert_not_found(client.get(url(mp3, "json")))


def test_a_file_bit_rotted_in_place_is_404(
    app: Flask, sources: dict[str, Path], tmp_path: Path
) -> None:
    # A fresh cache has no memory of having verified the file.
    entry = store(AudioCache(tmp_path / "data"), sources)
    data = bytearray(entry.audio_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.audio_path.write_bytes(bytes(data))
    app.test_client_class = BufferedClient
    assert_not_found(app.test_client().get(url(entry)))


# -- metadata -------------------------------------------------------------------


def test_metadata_json(client: FlaskClient, mp3: Entry) -> None:
    response = client.get(url(mp3, "json"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["ETag"] == f'"{mp3.content_hash}-json"'
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    body = response.get_json()
    assert body == {
        "id": mp3.key,
        "title": "A tone",
        "duration_s": 3.0,
        "format": "mp3",
        "bytes": mp3.bytes,
        "audio_url": f"http://localhost/audio/{mp3.key}.mp3",  # absolute, from the Host
        "created": body["created"],
        "voice": "en-gb",
        "rate": 175,
        "sentences": 2,
        "timings": TIMINGS,
    }
    assert body["created"].endswith("+00:00")
    # The URL it gives works.
    assert client.get(body["audio_url"]).data == mp3.audio_path.read_bytes()


def test_metadata_json_is_conditional(client: FlaskClient, mp3: Entry) -> None:
    etag = client.get(url(mp3, "json")).headers["ETag"]
    response = client.get(url(mp3, "json"), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    # The audio's own ETag is a different representation.
    other = client.get(url(mp3, "json"), headers={"If-None-Match": f'"{mp3.content_hash}"'})
    assert other.status_code == 200


def test_public_url_makes_audio_urls_absolute(app: Flask, client: FlaskClient, mp3: Entry) -> None:
    app.config["LISTEN_PUBLIC_URL"] = "https://listen.example.org/"
    body = client.get(url(mp3, "json")).get_json()
    assert body["audio_url"] == f"https://listen.example.org/audio/{mp3.key}.mp3"
    with app.app_context():
        assert audio.audio_url(mp3.key, "ogg") == f"https://listen.example.org/audio/{mp3.key}.ogg"


def test_audio_url_helper(app: Flask, mp3: Entry) -> None:
    with app.test_request_context(base_url="https://listen.example:8443/"):
        # Absolute, from the request's scheme and host.
        assert audio.audio_url(mp3) == f"https://listen.example:8443/audio/{mp3.key}.mp3"
    with app.app_context():  # no request, no LISTEN_PUBLIC_URL: the path alone
        assert audio.audio_url(mp3.key, "wav") == f"/audio/{mp3.key}.wav"
        with pytest.raises(ValueError):
            audio.audio_url(mp3.key)
        with pytest.raises(ValueError):
            audio.audio_url("../../etc/passwd", "mp3")
        with pytest.raises(ValueError):
            audio.audio_url(mp3.key, "exe")


# -- ?download=1 ------------------------------------------------------------------

SAVE_AS = "attachment; filename=\"a-tone.mp3\"; filename*=UTF-8''A%20tone.mp3"


def test_download_saves_the_file_under_its_title_with_the_same_validators(
    client: FlaskClient, mp3: Entry
) -> None:
    plain = client.get(url(mp3))
    saved = client.get(url(mp3) + "?download=1")
    assert saved.status_code == 200 and saved.data == plain.data
    assert saved.headers["Content-Disposition"] == SAVE_AS
    assert "Content-Disposition" not in plain.headers
    assert client.get(url(mp3) + "?download=0").headers.get("Content-Disposition") is None
    for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control", "Last-Modified"):
        assert saved.headers[name] == plain.headers[name], name
    head = client.head(url(mp3) + "?download=1")
    assert head.headers["Content-Disposition"] == SAVE_AS and head.data == b""


def test_download_keeps_ranges_and_conditional_requests(client: FlaskClient, mp3: Entry) -> None:
    data = mp3.audio_path.read_bytes()
    part = client.get(url(mp3) + "?download=1", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == data[:100]
    assert part.headers["Content-Disposition"] == SAVE_AS
    again = client.get(url(mp3) + "?download=1", headers={"If-None-Match": f'"{mp3.content_hash}"'})
    assert again.status_code == 304 and again.data == b""


def test_download_of_an_untitled_audio_is_named_by_its_id(
    client: FlaskClient, cache: AudioCache, sources: dict[str, Path]
) -> None:
    key = hashlib.sha256(b"untitled").hexdigest()
    tmp = cache.temp_path(key, ".ogg")
    shutil.copyfile(sources["ogg"], tmp)
    entry = cache.put(key, tmp, fmt="ogg", duration_s=3.0, title=None, meta={"timings": []})
    name = f"listen-{key[:12]}.ogg"
    assert client.get(url(entry) + "?download=1").headers["Content-Disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    )


@pytest.mark.parametrize("value", ["", "yes", "true", "2"])
def test_download_takes_1_or_0_only(client: FlaskClient, mp3: Entry, value: str) -> None:
    response = client.get(url(mp3) + f"?download={value}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_field"


# -- a real HTTP server and a real client ---------------------------------------


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def curl(tmp_path: Path, *args: str) -> tuple[int, int, dict[str, str], bytes]:
    """Run the system curl; return the status, the body's byte count as curl counted it,
    the headers (lower-case names) and what curl wrote out (with ``-I``, the headers)."""
    binary = require("curl")
    head, body = tmp_path / "curl-headers", tmp_path / "curl-body"
    body.unlink(missing_ok=True)
    report = "%{http_code} %{size_download}"
    out = subprocess.run(
        [binary, "-sS", "--max-time", "20", "-D", str(head), "-o", str(body), "-w", report, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, f"curl {args} failed: {out.stderr}"
    headers = {}
    for line in head.read_text("latin-1").splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    status, size = out.stdout.split()
    return int(status), int(size), headers, body.read_bytes() if body.exists() else b""


def test_curl_against_a_real_server(server: str, mp3: Entry, tmp_path: Path) -> None:
    data = mp3.audio_path.read_bytes()
    address = f"{server}{url(mp3)}"

    status, size, headers, body = curl(tmp_path, address)
    assert (status, size) == (200, len(data))
    assert body == data
    assert headers["content-type"] == "audio/mpeg"
    assert headers["etag"] == f'"{mp3.content_hash}"'

    status, size, headers, body = curl(tmp_path, "-r", "0-99", address)
    assert (status, size) == (206, 100)
    assert body == data[:100]
    assert headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert headers["content-length"] == "100"

    status, size, headers, body = curl(tmp_path, "-r", f"{len(data) - 10}-", address)
    assert (status, size) == (206, 10)
    assert body == data[-10:]

    etag = f'If-None-Match: "{mp3.content_hash}"'
    status, size, headers, body = curl(tmp_path, "-H", etag, address)
    assert (status, size) == (304, 0)
    assert headers["etag"] == f'"{mp3.content_hash}"'
    assert headers["cache-control"] == "public, max-age=31536000, immutable"

    status, size, headers, _ = curl(tmp_path, "-I", address)
    assert (status, size) == (200, 0)
    assert headers["content-length"] == str(len(data))
    assert headers["content-type"] == "audio/mpeg"
    assert headers["accept-ranges"] == "bytes"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"

    status, _, headers, body = curl(tmp_path, "-H", "Range: bytes=999999999-", address)
    assert status == 416
    assert headers["content-range"] == f"bytes */{len(data)}"
    assert b'"range_not_satisfiable"' in body


def test_curl_saves_a_download_under_the_name_the_server_gives(
    server: str, mp3: Entry, tmp_path: Path
) -> None:
    """``curl -OJ``, like a browser, takes the file name from ``Content-Disposition``."""
    folder = tmp_path / "saved"
    folder.mkdir()
    out = subprocess.run(
        [require("curl"), "-sS", "-O", "-J", f"{server}{url(mp3)}?download=1"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert [p.name for p in folder.iterdir()] == ["a-tone.mp3"]
    assert (folder / "a-tone.mp3").read_bytes() == mp3.audio_path.read_bytes()


def test_curl_path_tricks_are_404(server: str, mp3: Entry, tmp_path: Path) -> None:
    for path in ("/audio/..%2f..%2fetc%2fpasswd.mp3", "/audio/../../etc/passwd", "/etc/passwd"):
        status, _, headers, body = curl(tmp_path, "--path-as-is", f"{server}{path}")
        assert status == 404, path
        assert headers["content-type"] == "application/json"
        assert b'"not_found"' in body
