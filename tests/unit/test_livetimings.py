"""Reading a live timings file as a worker appends to it, and the first-audio histogram's text."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from listen_service.livetimings import FOLLOWERS, Follower, follower
from listen_service.ops.metrics import first_audio_family
from tests.promtext import samples, value
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


def test_the_first_audio_histogram_is_prometheus_text() -> None:
    hist = Histogram(FIRST_AUDIO_BOUNDS, (0, 1, 3, 3, 4, 4, 4, 4), 5, 47.5)
    registry = CollectorRegistry()
    registry.register(Fixed(first_audio_family(hist)))
    found = samples(generate_latest(registry).decode())
    name = "listen_time_to_first_audio_seconds"
    buckets = {dict(labels)["le"]: v for (n, labels), v in found.items() if n == f"{name}_bucket"}
    assert buckets == {
        "0.1": 0, "0.25": 1, "0.5": 3, "1.0": 3, "2.0": 4, "5.0": 4, "10.0": 4, "30.0": 4,
        "+Inf": 5,
    }  # fmt: skip
    assert (value(found, f"{name}_sum"), value(found, f"{name}_count")) == (47.5, 5)


class Fixed(Collector):
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]
