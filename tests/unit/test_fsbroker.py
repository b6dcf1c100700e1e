"""The embedded broker's transport through kombu's public API, on a real folder."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import virtual

from listen_service import fsbroker
from listen_service.brokers import FolderBroker
from listen_service.fsbroker import TRANSPORT, message_files, quarantined, transport_options

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
    assert claimed_files(tmp_path) == []
    queue.close()


def test_a_part_its_publisher_abandoned_is_removed_and_only_that(
    conn: Connection, tmp_path: Path
) -> None:
    abandoned = queue_folder(tmp_path) / f".1_a.{QUEUE}.msg{fsbroker.PART_SUFFIX}"
    in_progress = queue_folder(tmp_path) / f".2_b.{QUEUE}.msg{fsbroker.PART_SUFFIX}"
    abandoned.write_bytes(b'{"bo')
    in_progress.write_bytes(b'{"bo')
    old = time.time() - fsbroker.PART_MAX_AGE - 60
    os.utime(abandoned, (old, old))
    queue = conn.SimpleQueue(QUEUE)
    with pytest.raises(queue.Empty):
        queue.get(timeout=0.2)  # a consumer starting
    assert not abandoned.exists()
    assert in_progress.exists()
    queue.close()


def test_a_message_being_moved_counts_as_waiting_and_is_not_delivered(
    conn: Connection, tmp_path: Path
) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1}, headers={"id": JOB_A})
    [name] = message_files(queue_folder(tmp_path), QUEUE)
    # As move_message holds it between taking it and writing its new copy.
    (queue_folder(tmp_path) / name).rename(
        queue_folder(tmp_path) / f".{name}{fsbroker.MOVING_SUFFIX}"
    )
    assert FolderBroker(tmp_path / "broker", (QUEUE,)).waiting([JOB_A]) == {JOB_A}
    with pytest.raises(queue.Empty):
        queue.get(timeout=0.2)
    queue.close()


def test_a_message_whose_mover_died_goes_back_to_its_queue(
    conn: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1}, headers={"id": JOB_A})
    queue.put({"n": 2}, headers={"id": JOB_B})
    abandoned, in_progress = message_files(queue_folder(tmp_path), QUEUE)
    for name in (abandoned, in_progress):  # the rename dates each (ctime)
        (queue_folder(tmp_path) / name).rename(
            queue_folder(tmp_path) / f".{name}{fsbroker.MOVING_SUFFIX}"
        )
        time.sleep(0.5)
    monkeypatch.setattr(fsbroker, "MOVE_MAX_AGE", 0.75)
    assert queue.get(timeout=2).payload == {"n": 1}  # a consumer's tidy-up returned it
    with pytest.raises(queue.Empty):
        queue.get(timeout=0.2)
    assert fsbroker.moving_files(queue_folder(tmp_path), QUEUE) == [in_progress]
    queue.close()


def claimed_files(tmp_path: Path) -> list[str]:
    return [p.name for p in (tmp_path / "broker" / "claimed").rglob("*") if p.is_file()]


def test_a_taken_message_stays_on_disk_until_acknowledged(conn: Connection, tmp_path: Path) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1})
    message = queue.get(timeout=1)
    assert os.listdir(queue_folder(tmp_path)) == []
    assert len(claimed_files(tmp_path)) == 1
    message.ack()
    assert claimed_files(tmp_path) == []
    queue.close()


@pytest.mark.parametrize("hand_back", ["reject", "close"])
def test_a_message_handed_back_is_queued_once_and_its_claim_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hand_back: str
) -> None:
    monkeypatch.setattr(fsbroker.Transport, "global_state", virtual.BrokerState())
    options = transport_options(tmp_path)
    with Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn:
        queue = conn.SimpleQueue(QUEUE)
        queue.put({"n": 1})
        message = queue.get(timeout=1)
        if hand_back == "reject":
            message.requeue()
        queue.close()
    assert claimed_files(tmp_path) == []
    assert len(os.listdir(queue_folder(tmp_path))) == 1
    with Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn:
        queue = conn.SimpleQueue(QUEUE)
        again = queue.get(timeout=1)
        assert again.payload == {"n": 1}
        again.ack()
        queue.close()


TAKE_AND_DIE = """
import os, signal, sys
from kombu import Connection
from listen_service.fsbroker import TRANSPORT, transport_options
with Connection("filesystem://", transport=TRANSPORT,
                transport_options=transport_options(sys.argv[1])) as conn:
    message = conn.SimpleQueue("listen").get(timeout=5)
    print(message.payload["n"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""

JOB_A, JOB_B, JOB_C = "a1" * 32, "b2" * 32, "c3" * 32


def test_a_message_is_found_by_the_task_id_in_its_file_name_without_being_read(
    conn: Connection, tmp_path: Path
) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1}, headers={"id": JOB_A})
    queue.put({"n": 2}, headers={"id": JOB_B})
    queue.put({"n": 3})  # no task id: named as kombu names it
    names = message_files(queue_folder(tmp_path), QUEUE)
    assert len(names) == 3 and all(taken_by_consumer(n) for n in names)
    assert {fsbroker.task_id_of(n) for n in names} == {JOB_A, JOB_B, None}
    for name in names:
        if fsbroker.task_id_of(name):
            (queue_folder(tmp_path) / name).write_bytes(b"not read")
    broker = FolderBroker(tmp_path / "broker", (QUEUE,))
    assert broker.waiting([JOB_A, JOB_B, JOB_C]) == {JOB_A, JOB_B}
    assert broker.waiting([]) == set()
    queue.close()


def test_a_message_named_as_kombu_names_it_is_found_by_reading_it(tmp_path: Path) -> None:
    transport_options(tmp_path)
    message = {"body": "", "headers": {"id": JOB_A}, "properties": {}}
    (queue_folder(tmp_path) / f"1_x.{QUEUE}.msg").write_text(json.dumps(message))
    (queue_folder(tmp_path) / f"2_y.{QUEUE}.msg").write_bytes(b"")
    (queue_folder(tmp_path) / f"3_z_{JOB_B}.other.msg").write_bytes(b"")
    assert FolderBroker(tmp_path / "broker", (QUEUE,)).waiting([JOB_A, JOB_B]) == {JOB_A}


def test_a_claimed_message_counts_as_waiting_until_acknowledged(
    conn: Connection, tmp_path: Path
) -> None:
    """Held by a live consumer, the job is being worked; held by a dead one, it comes back:
    either way it has a message, and enqueueing it again would make two."""
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1}, headers={"id": JOB_A})
    queue.put({"n": 2}, headers={"id": JOB_B})
    died = subprocess.run(
        [sys.executable, "-c", TAKE_AND_DIE, str(tmp_path)], capture_output=True, text=True
    )
    assert died.returncode == -signal.SIGKILL and died.stdout == "1\n", died.stderr
    broker = FolderBroker(tmp_path / "broker", (QUEUE,))
    assert os.listdir(queue_folder(tmp_path)) != []
    assert broker.waiting([JOB_A, JOB_B]) == {JOB_A, JOB_B}  # A: claimed by the dead one

    first = queue.get(timeout=1)  # returns the dead consumer's claim, then takes it
    second = queue.get(timeout=1)
    assert message_files(queue_folder(tmp_path), QUEUE) == []
    assert broker.waiting([JOB_A, JOB_B]) == {JOB_A, JOB_B}  # both claimed by this one
    first.ack()
    assert broker.waiting([JOB_A, JOB_B]) == {second.headers["id"]}
    second.ack()
    assert broker.waiting([JOB_A, JOB_B]) == set()
    queue.close()


@pytest.mark.parametrize("move", ["taken by a new consumer", "handed back by a dead one's"])
def test_a_message_that_moves_while_it_is_looked_for_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, move: str
) -> None:
    """A worker starting up hands back a dead consumer's claim and takes it at once,
    as the sweep looks: the message is never in no folder, so it must be found."""
    transport_options(tmp_path)
    broker_dir = tmp_path / "broker"
    name = f"1_x_{JOB_A}.{QUEUE}.msg"
    dead = broker_dir / "claimed" / "dead-owner"
    dead.mkdir(parents=True)
    start, end = (
        (queue_folder(tmp_path), broker_dir / "claimed" / "new-owner")
        if move.startswith("taken")
        else (dead, queue_folder(tmp_path))
    )
    (start / name).write_bytes(b"")
    real = message_files
    calls: list[Path] = []

    def step() -> None:
        if len(calls) == 1 and (start / name).exists():
            end.mkdir(parents=True, exist_ok=True)
            (start / name).rename(end / name)

    def moving(folder: Path, queue: str) -> list[str]:
        # As the broker starts looking (a consumer takes it into a new claims
        # folder), or just after its first look (a claim is handed back).
        calls.append(folder)
        if move.startswith("taken"):
            step()
            return real(folder, queue)
        names = real(folder, queue)
        step()
        return names

    monkeypatch.setattr("listen_service.brokers.message_files", moving)
    assert FolderBroker(broker_dir, (QUEUE,)).waiting([JOB_A]) == {JOB_A}
    assert (end / name).exists()


def test_message_files_lists_one_queue_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    for name in [
        f"2_b.{QUEUE}.msg",
        f"1_a.{QUEUE}.msg",
        f".0_c.{QUEUE}.msg{fsbroker.PART_SUFFIX}",
        "1_d.other.msg",
        f"1_e.{QUEUE}.msg.x",
    ]:
        (folder / name).write_bytes(b"")
    assert message_files(folder, QUEUE) == [f"1_a.{QUEUE}.msg", f"2_b.{QUEUE}.msg"]


def test_a_message_held_by_a_killed_consumer_is_delivered_again(
    conn: Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1})
    queue.put({"n": 2})
    died = subprocess.run(
        [sys.executable, "-c", TAKE_AND_DIE, str(tmp_path)], capture_output=True, text=True
    )
    assert died.returncode == -signal.SIGKILL and died.stdout == "1\n", died.stderr
    assert len(claimed_files(tmp_path)) == 1

    with caplog.at_level(logging.WARNING, logger="listen_service.fsbroker"):
        first, second = queue.get(timeout=1), queue.get(timeout=1)
    assert (first.payload, second.payload) == ({"n": 1}, {"n": 2})
    assert "returned 1 broker message(s) to the queue" in caplog.text
    first.ack()
    second.ack()
    assert claimed_files(tmp_path) == []
    assert os.listdir(tmp_path / "broker" / "claimed") == [
        next(iter(os.listdir(tmp_path / "broker" / "claimed")))
    ]
    queue.close()


def test_quarantined_is_zero_before_any_broker_exists(tmp_path: Path) -> None:
    assert quarantined(tmp_path / "nowhere") == 0


def test_an_unreadable_routing_table_found_at_bind_is_quarantined_and_rewritten(
    conn: Connection, tmp_path: Path
) -> None:
    table = tmp_path / "broker" / "control" / f"{QUEUE}.exchange"
    table.write_bytes(b'[["listen", "", "lis')  # cut short, as by a full disk
    queue = conn.SimpleQueue(QUEUE)  # binds the queue, as a starting worker does
    queue.put({"n": 1})
    message = queue.get(timeout=1)
    assert message.payload == {"n": 1}
    message.ack()
    assert json.loads(table.read_bytes()) == [[QUEUE, "", QUEUE]]
    assert quarantined(tmp_path) == 1
    queue.close()


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_routing_table_lost_while_running_is_rebuilt_at_the_next_publish(
    conn: Connection, tmp_path: Path, damage: str
) -> None:
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"n": 1})
    table = tmp_path / "broker" / "control" / f"{QUEUE}.exchange"
    if damage == "truncated":
        table.write_bytes(b"")
    else:
        table.unlink()
    queue.put({"n": 2})
    assert [queue.get(timeout=1).payload["n"] for _ in range(2)] == [1, 2]
    assert json.loads(table.read_bytes()) == [[QUEUE, "", QUEUE]]
    assert quarantined(tmp_path) == (1 if damage == "truncated" else 0)
    queue.close()


def test_names_made_in_one_millisecond_sort_in_the_order_they_were_made() -> None:
    """Two messages put in the same millisecond are taken in the order they were put."""
    names = [fsbroker.message_name(QUEUE, JOB_A) for _ in range(200)]
    assert sorted(names) == names
    assert {fsbroker.task_id_of(name) for name in names} == {JOB_A}
