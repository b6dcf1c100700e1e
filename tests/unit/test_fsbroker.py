"""The embedded broker's transport through kombu's public API, on a real folder."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import virtual

from listen_service import fsbroker
from listen_service.fsbroker import TRANSPORT, quarantined, transport_options

QUEUE = "listen"


@pytest.fixture
def conn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    # kombu keeps declared exchanges per process, as if there were one broker
    # folder; each test has its own, so each starts as a fresh process would.
    monkeypatch.setattr(fsbroker.Transport, "global_state", virtual.BrokerState())
    with Connection(
        "filesystem://", transport=TRANSPORT, transport_options=transport_options(tmp_path)
    ) as connection:
        yield connection


def queue_folder(tmp_path: Path) -> Path:
    return tmp_path / "broker" / "queue"


def taken_by_consumer(name: str) -> bool:
    """kombu's own test of a name in the queue folder (filesystem.Channel._get)."""
    return name.partition(".")[2] == f"{QUEUE}.msg"


def test_a_message_is_invisible_until_it_is_whole(
    conn: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_while_writing: list[dict[str, Any]] = []
    real_fsync = os.fsync

    def look_then_fsync(fd: int) -> None:
        # The bytes are written but not yet published: what would a consumer see?
        names = os.listdir(queue_folder(tmp_path))
        seen_while_writing.append(
            {"taken": [n for n in names if taken_by_consumer(n)], "all": names}
        )
        real_fsync(fd)

    queue = conn.SimpleQueue(QUEUE)
    with monkeypatch.context() as patched:
        patched.setattr(fsbroker.os, "fsync", look_then_fsync)
        queue.put({"text": "x" * 100_000})

    assert len(seen_while_writing) == 1
    assert seen_while_writing[0]["taken"] == []
    assert [n.endswith(fsbroker.PART_SUFFIX) for n in seen_while_writing[0]["all"]] == [True]
    names = os.listdir(queue_folder(tmp_path))
    assert len(names) == 1 and taken_by_consumer(names[0])
    message = queue.get(timeout=1)
    assert message.payload == {"text": "x" * 100_000}
    message.ack()
    queue.close()


def test_a_reader_racing_many_writers_only_ever_reads_whole_messages(
    conn: Connection, tmp_path: Path
) -> None:
    folder = queue_folder(tmp_path)
    done = threading.Event()
    bad: list[str] = []
    read = 0

    def read_everything_visible() -> None:
        nonlocal read
        while not done.is_set():
            for name in filter(taken_by_consumer, os.listdir(folder)):
                try:
                    json.loads((folder / name).read_bytes())
                    read += 1
                except FileNotFoundError:
                    pass
                except ValueError as exc:
                    bad.append(f"{name}: {exc}")

    reader = threading.Thread(target=read_everything_visible)
    reader.start()
    try:
        queue = conn.SimpleQueue(QUEUE)
        for n in range(200):
            queue.put({"n": n, "text": "y" * 200_000})
    finally:
        done.set()
        reader.join()
    assert bad == []
    assert read > 0
    assert [queue.get(timeout=1).payload["n"] for _ in range(200)] == list(range(200))
    queue.close()


@pytest.mark.parametrize(
    "content",
    [b"", b'{"body": "eyJ0ZXh0IjogImhlbGxvIn0=", "properties": {"delivery_', b"[]", b"\xff\xfe"],
    ids=["empty", "half-written", "not-a-message", "not-utf8"],
)
def test_an_unreadable_file_is_moved_aside_once_and_the_next_message_delivered(
    conn: Connection, tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1})
    # Named to sort before the real message, as an older file would.
    bad = queue_folder(tmp_path) / f"0000000000001_bad.{QUEUE}.msg"
    bad.write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="listen_service.fsbroker"):
        message = queue.get(timeout=1)
    assert message.payload == {"n": 1}
    message.ack()

    assert (tmp_path / "broker" / "quarantine" / bad.name).read_bytes() == content
    assert not bad.exists()
    assert quarantined(tmp_path) == 1
    assert bad.name in caplog.text and "quarantined" in caplog.text
    # Not read again: the queue is empty and nothing more is quarantined.
    caplog.clear()
    with pytest.raises(queue.Empty):
        queue.get(timeout=0.3)
    assert caplog.text == ""
    assert os.listdir(queue_folder(tmp_path)) == []
    assert os.listdir(tmp_path / "broker" / "claimed") == []
    queue.close()


def test_quarantined_is_zero_before_any_broker_exists(tmp_path: Path) -> None:
    assert quarantined(tmp_path / "nowhere") == 0
