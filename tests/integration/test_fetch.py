"""Fetching pages from real HTTP servers on this machine, through the SSRF guard.

Each test starts a threaded ``http.server`` on 127.0.0.1. That is loopback,
which the guard refuses by default, so fetches meant to succeed pass
``allow_private=True`` (``LISTEN_FETCH_ALLOW_PRIVATE``), as a test of the service
must.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from listen_service.ingest.fetch import FetchError, address_allowed, fetch_page

PAGE = (
    b"<!doctype html><html lang='en'><head><title>Harbour news</title></head><body>"
    b"<article><h1>Harbour news</h1><p>The ferry runs again from Monday morning.</p></article>"
    b"</body></html>"
)
SERVER_ADDRESS = ipaddress.ip_address("127.0.0.1")


class Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Callable[[BaseHTTPRequestHandler], None]]] = {}

    def do_GET(self) -> None:
        self.routes[self.path](self)

    def log_message(self, *_: object) -> None:
        pass


def _html(handler: BaseHTTPRequestHandler, body: bytes = PAGE, kind: str = "text/html") -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", f"{kind}; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _redirect(to: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def _huge_unannounced(handler: BaseHTTPRequestHandler) -> None:
    # No Content-Length: the cap must be enforced while reading.
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    try:
        for _ in range(200):
            handler.wfile.write(b"<p>" + b"x" * 10_000 + b"</p>")
    except OSError:
        pass  # the client hung up at its cap, as it should


def _trickle(handler: BaseHTTPRequestHandler) -> None:
    # Each byte comes well within any per-read timeout; the whole never ends in time.
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"<")
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass


def _silent(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(5)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    base = f"http://127.0.0.1:{httpd.server_port}"
    Handler.routes = {
        "/page": _html,
        "/pdf": lambda h: _html(h, b"%PDF-1.4", "application/pdf"),
        "/missing": lambda h: h.send_error(404),
        "/to-page": _redirect("/page"),
        "/to-loopback": _redirect(f"http://127.0.0.2:{httpd.server_port}/page"),
        "/to-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-file": _redirect("file:///etc/passwd"),
        "/loop": _redirect("/loop"),
        "/big-announced": lambda h: _html(h, b"<p>" + b"x" * 20_000 + b"</p>"),
        "/big": _huge_unannounced,
        "/trickle": _trickle,
        "/silent": _silent,
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()


def _refused(url: str, **options: object) -> FetchError:
    settings: dict[str, object] = {"timeout": 5.0, "max_bytes": 1_000_000, **options}
    with pytest.raises(FetchError) as caught:
        fetch_page(url, **settings)  # type: ignore[arg-type]
    return caught.value


def test_a_good_page_is_fetched_when_private_addresses_are_allowed(server: str) -> None:
    page = fetch_page(f"{server}/page", timeout=5, max_bytes=100_000, allow_private=True)
    assert page.body == PAGE
    assert page.charset == "utf-8"


def test_loopback_is_refused_by_default(server: str) -> None:
    error = _refused(f"{server}/page")
    assert (error.status, error.code) == (422, "url_not_allowed")
    assert "127.0.0.1" in error.message


def test_localhost_by_name_is_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    error = _refused(f"http://localhost:{port}/page")
    assert (error.status, error.code) == (422, "url_not_allowed")


def test_ipv4_mapped_loopback_is_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    error = _refused(f"http://[::ffff:127.0.0.1]:{port}/page")
    assert (error.status, error.code) == (422, "url_not_allowed")


def _only_the_test_server(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Trusts the test server itself and judges every other address by the real policy:
    # a stand-in for a public site that redirects somewhere it must not.
    return address == SERVER_ADDRESS or address_allowed(address)


def test_a_redirect_is_followed(server: str) -> None:
    page = fetch_page(
        f"{server}/to-page", timeout=5, max_bytes=100_000, allow=_only_the_test_server
    )
    assert page.body == PAGE
    assert page.url == f"{server}/page"


@pytest.mark.parametrize(
    ("path", "address"), [("/to-loopback", "127.0.0.2"), ("/to-metadata", "169.254.169.254")]
)
def test_a_redirect_to_a_private_address_is_refused(server: str, path: str, address: str) -> None:
    error = _refused(f"{server}{path}", allow=_only_the_test_server)
    assert (error.status, error.code) == (422, "url_not_allowed")
    assert address in error.message


def test_a_redirect_to_another_scheme_is_refused(server: str) -> None:
    error = _refused(f"{server}/to-file", allow=_only_the_test_server)
    assert (error.status, error.code) == (422, "url_not_allowed")


def test_endless_redirects_stop(server: str) -> None:
    error = _refused(f"{server}/loop", allow_private=True)
    assert (error.status, error.code) == (422, "fetch_failed")
    assert "redirects" in error.message


def test_the_name_is_looked_up_once_and_the_checked_address_used(server: str) -> None:
    # DNS rebinding: a second lookup could answer a private address after the check.
    port = int(server.rsplit(":", 1)[1])
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]])

    def lookup(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        assert host == "news.example"
        return next(answers)  # a second call would raise StopIteration

    page = fetch_page(
        f"http://news.example:{port}/page",
        timeout=5,
        max_bytes=100_000,
        allow_private=True,
        lookup=lookup,  # type: ignore[arg-type]
    )
    assert page.body == PAGE


@pytest.mark.parametrize("path", ["/big-announced", "/big"])
def test_a_page_past_the_size_cap_is_refused(server: str, path: str) -> None:
    error = _refused(f"{server}{path}", allow_private=True, max_bytes=10_000)
    assert (error.status, error.code) == (413, "page_too_large")


@pytest.mark.parametrize("path", ["/trickle", "/silent"])
def test_a_slow_server_times_out_within_the_deadline(server: str, path: str) -> None:
    started = time.monotonic()
    error = _refused(f"{server}{path}", allow_private=True, timeout=1.0)
    assert (error.status, error.code) == (422, "fetch_timeout")
    assert time.monotonic() - started < 2.0


def test_a_page_that_is_not_html_is_refused(server: str) -> None:
    error = _refused(f"{server}/pdf", allow_private=True)
    assert (error.status, error.code) == (422, "not_html")


def test_an_error_status_is_a_failed_fetch(server: str) -> None:
    error = _refused(f"{server}/missing", allow_private=True)
    assert (error.status, error.code) == (422, "fetch_failed")
    assert "404" in error.message


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = _refused(f"http://127.0.0.1:{port}/", allow_private=True)
    assert (error.status, error.code) == (422, "url_unreachable")
