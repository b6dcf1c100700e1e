"""The pure rules behind ``/audio``: which byte range to send, and when to answer 304 or 412."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from listen_service.audio import byte_range, precondition
from listen_service.errors import ApiError

TAG = "a" * 64
MODIFIED = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-0", (0, 0)),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-", (10, 999)),
        ("bytes=-1", (999, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=999-999", (999, 999)),
        (" Bytes=\t1-2 ", (1, 2)),
        ("bytes=1-2,,", (1, 2)),
        (f"bytes=0-{'9' * 50}", (0, 999)),
        ("bytes=5-4", None),
        ("bytes=-", None),
        ("bytes=", None),
        ("bytes=a-b", None),
        ("bytes=1-2-3", None),
        ("bytes=+1-2", None),
        ("bytes=1 - 2", None),
        ("bytes=0-1,3-4", None),
        ("bytes=0-1, 0-1", None),
        ("pages=0-1", None),
        ("bytes", None),
        ("bytes=\u0661-\u0662", None),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=1000-2000", "bytes=-0", f"bytes={'9' * 50}-"]
)
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        byte_range(header, 1000)
    assert caught.value.status == 416
    assert caught.value.headers == {"Content-Range": "bytes */1000"}


def test_an_empty_file_has_no_ranges() -> None:
    assert byte_range("bytes=0-", 0) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"If-None-Match": f'"{TAG}"'}, 304),
        ({"If-None-Match": f'W/"{TAG}"'}, 304),
        ({"If-None-Match": f'"x", W/"{TAG}"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"x"'}, None),
        ({"If-None-Match": ""}, None),
        ({"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}, 304),
        ({"If-Modified-Since": "Tue, 14 Nov 2023 22:13:19 GMT"}, None),
        ({"If-Modified-Since": "yesterday"}, None),
        ({"If-None-Match": '"x"', "If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}, None),
        ({"If-Match": f'"{TAG}"'}, None),
        ({"If-Match": "*"}, None),
        ({"If-Match": f'W/"{TAG}"'}, 412),
        ({"If-Match": '"x"', "If-None-Match": f'"{TAG}"'}, 412),
        ({"If-Unmodified-Since": "Tue, 14 Nov 2023 22:13:19 GMT"}, 412),
        ({"If-Unmodified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}, None),
        ({"If-Match": f'"{TAG}"', "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, None),
    ],
)
def test_precondition(headers: dict[str, str], expected: int | None) -> None:
    assert precondition(Headers(headers), TAG, MODIFIED) == expected
