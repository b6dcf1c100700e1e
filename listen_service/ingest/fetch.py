"""Fetching an article page for ``{"url": …}``, behind an SSRF guard.

The server fetches on a client's behalf, so a client must not reach what only
the server can: ``fetch_page`` takes http(s) URLs only, resolves the host once,
refuses the request if any address it resolves to is loopback, private,
link-local, multicast, reserved or unspecified (IPv4 and IPv6, IPv4-mapped
included; ``allow_private`` lifts this for tests and intranets, but never for
multicast or unspecified addresses), and connects to that checked address
itself, so a second DNS answer (rebinding) cannot send it elsewhere. Each
redirect (at most ``MAX_REDIRECTS``) is checked the same way. One deadline
covers the whole exchange, redirects included, and a watchdog shuts the socket
when it passes, so a server trickling bytes cannot hold the request; the body
is counted while it is read and refused past ``max_bytes``.

Every refusal is a ``FetchError`` carrying its HTTP status and stable code.
A slow site is 422, not 504: the client chose the URL, and a 5xx would count
against this server in its alerts and error budget.

====== ================== ==================================================
status code               when
====== ================== ==================================================
422    url_not_allowed    not http(s), no host, credentials, or a refused address
422    url_unreachable    the name does not resolve or the connection fails
422    fetch_failed       a non-2xx answer, too many redirects, a broken reply
422    not_html           the answer is not text/html or application/xhtml+xml
413    page_too_large     the page is larger than ``max_bytes``
422    fetch_timeout      the deadline passed (name lookup included)
====== ================== ==================================================
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

MAX_REDIRECTS = 5
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
USER_AGENT = "Listen/0.1 (listen to this article)"
_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "text/html,application/xhtml+xml;q=0.9",
    # Counted bytes are the page's own: no compression bomb past the size cap.
    "Accept-Encoding": "identity",
}
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class FetchError(Exception):
    """A page that could not or may not be fetched: HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    body: bytes
    charset: str | None

    def document(self) -> str | bytes:
        """The body decoded by its Content-Type charset; bytes if it names none it knows
        (the extractor then reads ``<meta charset>`` or guesses)."""
        if self.charset:
            try:
                return self.body.decode(self.charset, errors="replace")
            except LookupError:
                pass
        return self.body


def address_allowed(address: IPAddress, *, allow_private: bool = False) -> bool:
    """True if the guard lets a fetch connect to ``address``.

    Only globally routable unicast addresses by default; ``allow_private``
    adds loopback, private, link-local, shared and reserved ones. IPv4-mapped
    IPv6 addresses (``::ffff:127.0.0.1``), 6to4 and NAT64 ones are judged as the
    IPv4 address they carry.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or _nat64(address)
        if embedded is not None:
            return address_allowed(embedded, allow_private=allow_private)
    if address.is_multicast or address.is_unspecified:
        return False
    if allow_private:
        return True
    # fec0::/10 (site-local, deprecated but still routed by some networks) counts as global.
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    return address.is_global and not (address.is_reserved or address.is_private or site_local)


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # 64:ff9b::/96 reaches the IPv4 address in its last 32 bits through a NAT64 gateway.
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


Lookup = Callable[..., list[tuple[Any, ...]]]


def resolve(
    host: str,
    port: int,
    allow: Callable[[IPAddress], bool],
    lookup: Lookup,
    timeout: float = 10.0,
) -> IPAddress:
    """The address to connect to for ``host``: every one it resolves to must be allowed."""
    try:
        infos = _within(timeout, lookup, host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(
            422, "url_unreachable", f"the host {host!r} could not be resolved"
        ) from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise FetchError(422, "url_unreachable", f"the host {host!r} has no address")
    for address in addresses:
        if not allow(address):
            raise FetchError(
                422,
                "url_not_allowed",
                f"the host {host!r} resolves to {address}, an address this server may not fetch",
            )
    return addresses[0]


def fetch_configured(url: str, settings: Mapping[str, Any]) -> Page:
    """``fetch_page`` with the service's ``LISTEN_FETCH_*`` settings."""
    return fetch_page(
        url,
        timeout=settings["LISTEN_FETCH_TIMEOUT_SECONDS"],
        max_bytes=settings["LISTEN_FETCH_MAX_BYTES"],
        allow_private=settings["LISTEN_FETCH_ALLOW_PRIVATE"],
    )


def _within(timeout: float, call: Lookup, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    # getaddrinfo takes no timeout and a slow resolver can hold it for many
    # seconds: it runs in a daemon thread, abandoned when the deadline passes.
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_outcome(call, *args, **kwargs)), daemon=True
    )
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise FetchError(422, "fetch_timeout", "the page took too long to fetch")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]  # type: ignore[no-any-return]


def _outcome(call: Lookup, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # handed to the waiting thread, which raises it
        return exc


def fetch_page(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool = False,
    allow: Callable[[IPAddress], bool] | None = None,
    lookup: Lookup = socket.getaddrinfo,
) -> Page:
    """The HTML page at ``url`` (after redirects), or a ``FetchError`` saying why not.

    ``allow`` replaces the address policy (``address_allowed`` with
    ``allow_private``) and ``lookup`` the resolver: the tests' seams.
    """
    if allow is None:
        allow = partial(address_allowed, allow_private=allow_private)
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port, path = check_url(url)
        address = resolve(host, port, allow, lookup, _remaining(deadline))
        hop = _Hop(scheme, host, port, path, str(address))
        found = hop.get(deadline, max_bytes)
        if isinstance(found, bytes | bytearray):
            return Page(url, bytes(found), hop.charset)
        url = urljoin(url, found)
    raise FetchError(422, "fetch_failed", f"more than {MAX_REDIRECTS} redirects")


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_private: bool = False,
    lookup: Lookup = socket.getaddrinfo,
) -> int:
    """POST ``body`` to ``url`` behind the same guard as ``fetch_page`` (http(s) only,
    every resolved address allowed, the checked address connected to, one deadline
    with its watchdog); the answer's status. Redirects are not followed (a 3xx is
    the answer). A ``FetchError`` if it could not be sent or answered in time."""
    deadline = time.monotonic() + timeout
    scheme, host, port, path = check_url(url)
    allow = partial(address_allowed, allow_private=allow_private)
    address = resolve(host, port, allow, lookup, _remaining(deadline))
    connection = _connection(scheme, host, port, str(address), _remaining(deadline))
    with _exchange(connection, deadline) as watchdog:
        connection.request("POST", path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        try:
            response.read(_CHUNK)  # what a receiver says is not kept; a little is read
        finally:
            response.close()
        if watchdog.fired:
            raise FetchError(422, "fetch_timeout", "no answer in time")
        return response.status


def check_url(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(422, "url_not_allowed", f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise FetchError(422, "url_not_allowed", "only http and https URLs can be fetched")
    if not parts.hostname:
        raise FetchError(422, "url_not_allowed", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchError(422, "url_not_allowed", "URLs with credentials are not fetched")
    # A path or query with spaces or non-ASCII characters (as pasted from a browser's
    # address bar, or sent raw in a Location) is sent percent-encoded, as browsers do;
    # what is encoded already stays as it is.
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE + "?")
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname, port or default, path


@dataclass(slots=True)
class _Hop:
    """One request, to the checked ``address``."""

    scheme: str
    host: str
    port: int
    path: str
    address: str
    charset: str | None = None

    def get(self, deadline: float, max_bytes: int) -> bytes | str:
        """The page's body, or the ``Location`` it redirects to."""
        connection = _connection(
            self.scheme, self.host, self.port, self.address, _remaining(deadline)
        )
        with _exchange(connection, deadline) as watchdog:
            connection.request("GET", self.path, headers=_HEADERS)
            response = connection.getresponse()
            try:
                location = response.getheader("Location")
                if response.status in _REDIRECTS and location:
                    return location
                _check_response(response, max_bytes)
                body = _read(response, max_bytes)
            finally:
                response.close()
            if watchdog.fired:  # the shutdown looks like the end of the body
                raise FetchError(422, "fetch_timeout", "the page took too long to fetch")
            self.charset = response.headers.get_content_charset()
            return body


@contextlib.contextmanager
def _exchange(connection: _Pinned, deadline: float) -> Iterator[_Watchdog]:
    """One request on ``connection`` within ``deadline``: its watchdog; every failure
    raised as a ``FetchError``; the connection closed after."""
    watchdog = _Watchdog(connection, _remaining(deadline))
    try:
        yield watchdog
    except FetchError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _failure(exc, watchdog.fired) from exc
    finally:
        watchdog.cancel()
        connection.close()
        if connection.raw is not None:
            connection.raw.close()


def _failure(exc: Exception, timed_out: bool) -> FetchError:
    if timed_out or isinstance(exc, TimeoutError):
        return FetchError(422, "fetch_timeout", "the page took too long to fetch")
    if isinstance(exc, http.client.HTTPException | ssl.SSLError):
        return FetchError(422, "fetch_failed", f"the site's reply is broken: {exc}")
    return FetchError(422, "url_unreachable", f"the site could not be reached: {exc}")


def _check_response(response: http.client.HTTPResponse, max_bytes: int) -> None:
    if not 200 <= response.status < 300:
        raise FetchError(422, "fetch_failed", f"the site answered {response.status}")
    media_type = response.headers.get_content_type()
    if response.getheader("Content-Type") is None or media_type not in HTML_TYPES:
        raise FetchError(422, "not_html", f"the page is {media_type}, not HTML")
    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise FetchError(413, "page_too_large", f"the page is larger than {max_bytes} bytes")


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        # read1: at most one socket read, so the watchdog's shutdown ends it.
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(413, "page_too_large", f"the page is larger than {max_bytes} bytes")
        chunks.append(chunk)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError(422, "fetch_timeout", "the page took too long to fetch")
    return left


def _connection(scheme: str, host: str, port: int, address: str, timeout: float) -> _Pinned:
    if scheme == "https":
        return _PinnedHTTPSConnection(host, port, address, timeout)
    return _PinnedHTTPConnection(host, port, address, timeout)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked ``address``; ``host`` is only sent (Host header)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.raw: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.raw = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As ``_PinnedHTTPConnection``, with the certificate checked for ``host`` (SNI)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address
        self.raw: socket.socket | None = None

    def connect(self) -> None:
        self.raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(self.raw, server_hostname=self.host)  # type: ignore[attr-defined]


_Pinned = _PinnedHTTPConnection | _PinnedHTTPSConnection


class _Watchdog:
    """Shuts the connection's socket when the deadline passes, whatever it is waiting for."""

    def __init__(self, connection: _Pinned, seconds: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        # Its own reference: http.client drops ``sock`` once a response will close.
        sock = self._connection.raw
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
