"""The SSRF guard's address policy and URL checks: pure logic, tested directly."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from listen_service.ingest.fetch import FetchError, address_allowed, fetch_page, resolve

REFUSED = [
    "127.0.0.1",  # loopback
    "127.255.255.254",
    "0.0.0.0",  # unspecified
    "10.0.0.1",  # private
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "169.254.169.254",  # link-local: cloud metadata services
    "100.64.0.1",  # carrier-grade NAT (shared)
    "192.0.0.1",  # IETF protocol assignments
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "::1",  # IPv6 loopback
    "::",  # unspecified
    "fe80::1",  # link-local
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fec0::1",  # site-local (deprecated)
    "::7f00:1",  # IPv4-compatible (deprecated) 127.0.0.1
    "100::1",  # discard-only
    "2001::1",  # Teredo
    "ff02::1",  # multicast
    "2001:db8::1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
ALLOWED = [
    "8.8.8.8",
    "93.184.216.34",
    "1.1.1.1",
    "172.32.0.1",  # just past 172.16.0.0/12
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fd00::1", "::ffff:127.0.0.1"]
)
def test_allow_private_lets_private_addresses_through(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "::ffff:0.0.0.0"])
def test_allow_private_never_allows_multicast_or_unspecified(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), allow_private=True)


def _lookup(*answers: str):  # type: ignore[no-untyped-def]
    def lookup(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers
        ]

    return lookup


def test_a_name_with_any_refused_address_is_refused() -> None:
    # A name answering a public and a private address could be connected to either.
    with pytest.raises(FetchError) as caught:
        resolve("mixed.example", 80, address_allowed, _lookup("8.8.8.8", "10.0.0.1"))
    assert (caught.value.status, caught.value.code) == (422, "url_not_allowed")
    assert "10.0.0.1" in caught.value.message


def test_a_public_name_resolves_to_its_checked_address() -> None:
    found = resolve("news.example", 443, address_allowed, _lookup("93.184.216.34"))
    assert found == ipaddress.ip_address("93.184.216.34")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/a.html", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http:///nohost", "no host"),
        ("http://user:pass@example.com/", "credentials"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_urls_that_are_not_plain_http_are_refused_before_any_lookup(url: str, message: str) -> None:
    def no_lookup(*_: object, **__: object) -> list[tuple[object, ...]]:
        raise AssertionError("looked up")

    with pytest.raises(FetchError) as caught:
        fetch_page(url, timeout=1, max_bytes=1000, lookup=no_lookup)
    assert (caught.value.status, caught.value.code) == (422, "url_not_allowed")
    assert message in caught.value.message


def test_an_unresolvable_name_is_unreachable() -> None:
    with pytest.raises(FetchError) as caught:
        fetch_page("http://no-such-host.invalid/", timeout=2, max_bytes=1000)
    assert (caught.value.status, caught.value.code) == (422, "url_unreachable")


def test_a_slow_name_lookup_counts_against_the_deadline() -> None:
    def slow_lookup(*_: object, **__: object) -> list[tuple[object, ...]]:
        time.sleep(3)
        return []

    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_page("http://slow-dns.example/", timeout=0.5, max_bytes=1000, lookup=slow_lookup)
    assert (caught.value.status, caught.value.code) == (422, "fetch_timeout")
    assert time.monotonic() - started < 1.5


def test_a_path_or_query_in_any_script_is_sent_percent_encoded() -> None:
    from listen_service.ingest.fetch import check_url

    scheme, host, port, path = check_url("https://news.example/2026/渡輪 dusk?q=渡&a=%20b")
    assert (scheme, host, port) == ("https", "news.example", 443)
    assert path == "/2026/%E6%B8%A1%E8%BC%AA%20dusk?q=%E6%B8%A1&a=%20b"
    assert check_url("http://news.example/a%2Fb?x=1")[3] == "/a%2Fb?x=1"  # kept as sent
    assert path.isascii()
