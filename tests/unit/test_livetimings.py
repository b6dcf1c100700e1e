"""Reading a live timings file as a worker appends to it, and the first-audio histogram's text."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from listen_service.livetimings import FOLLOWERS, Follower, follower
from listen_service.ops.metrics import histogram_lines
from workers.jobs import FIRST_AUDIO_BOUNDS, Histogram


def line(index: int) -> bytes:
    timing = {"index": index, "paragraph": 0, "start_ms": index * 1000}
    timing |= {"end_ms": index * 1000 + 900, "char_start": index * 10, "char_end": index * 10 + 9}
    return json.dumps(timing).encode() + b"\n"


def test_a_partial_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "k.live.timings.jsonl"
    path.write_bytes(line(0) + line(1)[:7])
    reader = Follower(path)
    assert [t["index"] for t in reader.timings()] == [0]
    with path.open("ab") as f:
        f.write(line(1)[7:-1])  # all but its newline: still not a line
    assert [t["index"] for t in reader.timings()] == [0]
    with path.open("ab") as f:
        f.write(b"\n" + line(2))
    timings = reader.timings()
    assert [t["index"] for t in timings] == [0, 1, 2]
    assert timings[1] == json.loads(line(1))


def test_only_what_was_appended_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "k.live.timings.jsonl"
    path.write_bytes(line(0))
    reader = Follower(path)
    assert len(reader.timings()) == 1
    with path.open("r+b") as f:  # a rewrite of read bytes would be seen by a reader from 0
        f.write(b"X")
    with path.open("ab") as f:
        f.write(line(1))
    assert [t["index"] for t in reader.timings()] == [0, 1]


def test_no_file_is_no_timings_and_a_gone_file_keeps_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "k.live.timings.jsonl"
    reader = Follower(path)
    assert reader.timings() == []
    path.write_bytes(line(0))
    assert len(reader.timings()) == 1
    path.unlink()
    assert len(reader.timings()) == 1


def test_a_line_that_is_not_json_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k.live.timings.jsonl"
    path.write_bytes(line(0) + b"{garbage\n" + line(1))
    with caplog.at_level(logging.WARNING):
        assert [t["index"] for t in Follower(path).timings()] == [0, 1]
    assert "not JSON" in caplog.text


def test_followers_are_shared_and_bounded(tmp_path: Path) -> None:
    first = follower(tmp_path / "0")
    assert follower(tmp_path / "0") is first
    for n in range(1, FOLLOWERS + 1):
        follower(tmp_path / str(n))
    assert follower(tmp_path / "0") is not first  # the least recently used was dropped


def test_histogram_lines_are_prometheus_text() -> None:
    hist = Histogram(FIRST_AUDIO_BOUNDS, (0, 1, 3, 3, 4, 4, 4, 4), 5, 47.5)
    assert histogram_lines("listen_ttfa_seconds", "time to first audio", hist) == [
        "# HELP listen_ttfa_seconds time to first audio",
        "# TYPE listen_ttfa_seconds histogram",
        'listen_ttfa_seconds_bucket{le="0.1"} 0',
        'listen_ttfa_seconds_bucket{le="0.25"} 1',
        'listen_ttfa_seconds_bucket{le="0.5"} 3',
        'listen_ttfa_seconds_bucket{le="1"} 3',
        'listen_ttfa_seconds_bucket{le="2"} 4',
        'listen_ttfa_seconds_bucket{le="5"} 4',
        'listen_ttfa_seconds_bucket{le="10"} 4',
        'listen_ttfa_seconds_bucket{le="30"} 4',
        'listen_ttfa_seconds_bucket{le="+Inf"} 5',
        "listen_ttfa_seconds_sum 47.5",
        "listen_ttfa_seconds_count 5",
    ]


def test_an_empty_histogram_is_all_zeros() -> None:
    lines = histogram_lines("h", "help", Histogram.empty())
    assert lines[-3:] == ['h_bucket{le="+Inf"} 0', "h_sum 0.0", "h_count 0"]
