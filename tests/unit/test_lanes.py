"""The lanes' pure parts: which queue a payload goes to, what a worker consumes,
where a job stands in the embedded broker's folders, and moving it there."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from listen_service import lanes
from listen_service.brokers import FolderBroker
from listen_service.cli import build_parser
from listen_service.fsbroker import message_files, message_name, write_message
from listen_service.run import worker_command

JOBS = ["a" * 64, "b" * 64, "c" * 64]


@pytest.mark.parametrize(
    ("payload", "queue"),
    [
        ({}, "listen.bulk"),
        ({"priority": "bulk"}, "listen.bulk"),
        ({"priority": "interactive"}, "listen"),
        # A stored payload from before the lanes: an API client's, so bulk.
        ({"text": "x"}, "listen.bulk"),
    ],
)
def test_a_payload_goes_to_its_lane(payload: dict[str, Any], queue: str) -> None:
    assert lanes.queue_of(payload) == queue


@pytest.mark.parametrize(
    ("lanes_arg", "queues"),
    [
        (None, "listen,listen.bulk,listen.neural"),
        ("interactive", "listen"),
        ("bulk", "listen.bulk"),
        ("general", "listen,listen.bulk"),
        ("neural", "listen.neural"),
    ],
)
def test_worker_lanes_choose_its_queues_interactive_first(
    lanes_arg: str | None, queues: str
) -> None:
    argv = ["worker"] + (["--lanes", lanes_arg] if lanes_arg else [])
    args = build_parser().parse_args(argv)
    cmd = worker_command({"LISTEN_BROKER_URL": "redis://x/0"}, 1, "INFO", args.lanes)
    assert cmd[cmd.index("-Q") + 1] == queues


def test_an_unknown_lane_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["worker", "--lanes", "fast"])
    assert exit_info.value.code == 2
    assert "--lanes" in capsys.readouterr().err


def test_serve_uses_every_cpu_unless_told() -> None:
    assert build_parser().parse_args(["serve"]).concurrency is None
    assert build_parser().parse_args(["serve", "--concurrency", "3"]).concurrency == 3


def message(job_id: str, queue: str) -> dict[str, Any]:
    return {
        "body": "W10=",
        "headers": {"id": job_id},
        "properties": {"delivery_info": {"exchange": "", "routing_key": queue}},
    }


@pytest.fixture
def folder_broker(tmp_path: Path) -> FolderBroker:
    (tmp_path / "broker" / "queue").mkdir(parents=True)
    return FolderBroker(tmp_path / "broker", lanes.QUEUES)


def queue_folder(tmp_path: Path) -> Path:
    return tmp_path / "broker" / "queue"


def enqueue(tmp_path: Path, job_id: str, queue: str) -> None:
    write_message(queue_folder(tmp_path), queue, message(job_id, queue))
    # Names order messages by the millisecond; within one, by a random uuid.
    time.sleep(0.002)


def test_positions_count_the_messages_ahead_in_the_jobs_lane(
    tmp_path: Path, folder_broker: FolderBroker
) -> None:
    for job_id in JOBS:
        enqueue(tmp_path, job_id, lanes.BULK)
    enqueue(tmp_path, "d" * 64, lanes.INTERACTIVE)
    found = [folder_broker.position(j, lanes.QUEUES, 100) for j in JOBS]
    assert found == [(lanes.BULK, 0), (lanes.BULK, 1), (lanes.BULK, 2)]
    assert folder_broker.position("d" * 64, lanes.QUEUES, 100) == (lanes.INTERACTIVE, 0)
    assert folder_broker.position("e" * 64, lanes.QUEUES, 100) is None
    # Beyond the scan's cap the position is not known.
    assert folder_broker.position(JOBS[2], lanes.QUEUES, 2) is None
    assert folder_broker.waiting([*JOBS, "d" * 64, "e" * 64]) == {*JOBS, "d" * 64}


def test_moving_a_message_changes_its_lane_and_routing_key(
    tmp_path: Path, folder_broker: FolderBroker
) -> None:
    folder = queue_folder(tmp_path)
    for job_id in JOBS:
        enqueue(tmp_path, job_id, lanes.BULK)
    enqueue(tmp_path, "d" * 64, lanes.INTERACTIVE)
    assert lanes.promote(folder_broker, JOBS[1])
    # At the back of its new lane, behind the reader who pressed first.
    assert folder_broker.position(JOBS[1], lanes.QUEUES, 100) == (lanes.INTERACTIVE, 1)
    assert folder_broker.position(JOBS[2], lanes.QUEUES, 100) == (lanes.BULK, 1)
    (moved,) = [n for n in message_files(folder, lanes.INTERACTIVE) if JOBS[1] in n]
    payload = json.loads((folder / moved).read_bytes())
    assert payload["properties"]["delivery_info"]["routing_key"] == lanes.INTERACTIVE
    assert payload["headers"]["id"] == JOBS[1]
    assert not lanes.promote(folder_broker, JOBS[1])  # not in the bulk lane any more
    assert not lanes.promote(folder_broker, "e" * 64)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no parts left


def test_concurrent_moves_move_once(tmp_path: Path, folder_broker: FolderBroker) -> None:
    enqueue(tmp_path, JOBS[0], lanes.BULK)
    results: list[bool] = []
    start = threading.Barrier(8)

    def press() -> None:
        start.wait()
        results.append(lanes.promote(folder_broker, JOBS[0]))

    threads = [threading.Thread(target=press) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(message_files(queue_folder(tmp_path), lanes.INTERACTIVE)) == 1
    assert message_files(queue_folder(tmp_path), lanes.BULK) == []


def test_a_foreign_file_is_left_in_place_not_moved(
    tmp_path: Path, folder_broker: FolderBroker
) -> None:
    name = message_name(lanes.BULK, JOBS[0])
    (queue_folder(tmp_path) / name).write_bytes(b"not json")
    assert not lanes.promote(folder_broker, JOBS[0])
    assert message_files(queue_folder(tmp_path), lanes.BULK) == [name]


class Unknown:
    def position(self, job_id: str, queues: tuple[str, ...], cap: int) -> tuple[str, int] | None:
        return None

    def move(self, job_id: str, source: str, target: str) -> bool:
        return False


class Down(Unknown):
    def position(self, job_id: str, queues: tuple[str, ...], cap: int) -> tuple[str, int] | None:
        raise RedisConnectionError("gone")


def test_a_position_not_known_keeps_the_lane_the_job_was_posted_to() -> None:
    def payload() -> dict[str, Any]:
        return {"priority": "interactive"}

    for broker in (Unknown(), Down()):
        info = lanes.queue_info(broker, JOBS[0], payload)
        assert info == {"lane": "interactive", "position": None}
    assert lanes.queue_info(Unknown(), JOBS[0], lambda: None) == {
        "lane": "bulk",
        "position": None,
    }


def test_an_event_stream_reports_a_queue_place_that_changed() -> None:
    """The player counts down the articles ahead from status events alone."""
    from listen_service.streams import _state

    body = {"status": "queued", "progress": 0.0, "queue": {"lane": "interactive", "position": 2}}
    moved = {**body, "queue": {"lane": "interactive", "position": 1}}
    assert _state(body) != _state(moved)
    assert _state(body) == _state(dict(body))
    assert _state({"status": "working", "progress": 0.5, "made_ms": 1200}) is not None


def test_neural_jobs_have_their_own_lane_only_when_the_operator_asks() -> None:
    assert lanes.lane_of("piper", neural_lane=False) == {}
    assert lanes.lane_of("espeak-ng", neural_lane=True) == {}
    stored = {"priority": "interactive", **lanes.lane_of("piper", neural_lane=True)}
    assert lanes.queue_of(stored) == lanes.NEURAL
    assert lanes.queue_of({"priority": "interactive"}) == lanes.INTERACTIVE
    # Workers: every lane by default; CPU and GPU workers split them when asked.
    assert set(lanes.WORKER_LANES["all"]) == set(lanes.QUEUES)
    general, neural = lanes.WORKER_LANES["general"], lanes.WORKER_LANES["neural"]
    assert lanes.NEURAL not in general and neural == (lanes.NEURAL,)
