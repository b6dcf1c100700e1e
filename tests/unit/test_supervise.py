"""``WorkerSupervisor``'s restart policy, with real (tiny) child processes."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from listen_service.procfs import alive
from listen_service.supervise import WorkerSupervisor, describe


def delays(text: str) -> list[float]:
    return [float(d) for d in re.findall(r"starting it again in ([\d.]+) s", text)]


def test_a_worker_that_keeps_failing_is_restarted_ever_later_up_to_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = WorkerSupervisor(
        [sys.executable, "-c", "raise SystemExit(3)"],
        {},
        tmp_path,
        first_delay=0.05,
        max_delay=0.2,
        healthy_after=60,
    )
    supervisor.start()
    deadline = time.monotonic() + 30
    text = ""
    while len(delays(text)) < 5:
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
        text += capsys.readouterr().err
    supervisor.stop()
    assert delays(text)[:5] == [0.05, 0.1, 0.2, 0.2, 0.2]
    assert "exited with status 3 after" in text


def test_the_delay_goes_back_to_the_first_after_a_worker_ran_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = WorkerSupervisor(
        [sys.executable, "-c", "import time; time.sleep(0.4)"],
        {},
        tmp_path,
        first_delay=0.05,
        max_delay=0.2,
        healthy_after=0.2,
    )
    supervisor.start()
    deadline = time.monotonic() + 30
    text = ""
    while len(delays(text)) < 3:
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
        text += capsys.readouterr().err
    supervisor.stop()
    assert delays(text)[:3] == [0.05, 0.05, 0.05]
    assert "exited with status 0 after" in text


def test_stop_ends_the_worker_and_its_record(tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(
        [sys.executable, "-c", "import time; time.sleep(300)"], {}, tmp_path, grace=5
    )
    supervisor.start()
    deadline = time.monotonic() + 30
    while not supervisor.pidfile.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(supervisor.pidfile.read_text().split()[0])
    supervisor.stop()
    assert not alive(pid)
    assert not supervisor.pidfile.exists()


def test_exit_statuses_read_as_people_read_them() -> None:
    assert describe(1) == "1"
    assert describe(-9) == "-9 (SIGKILL)"
    assert describe(-15) == "-15 (SIGTERM)"


def test_two_supervisors_of_one_data_dir_keep_their_own_records_and_stop_together(
    tmp_path: Path,
) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    general = WorkerSupervisor(sleeper, {}, tmp_path, grace=5)
    readers = WorkerSupervisor(sleeper, {}, tmp_path, grace=5, name="readers")
    assert general.pidfile != readers.pidfile
    for supervisor in (general, readers):
        supervisor.start()
    deadline = time.monotonic() + 30
    while not (general.pidfile.exists() and readers.pidfile.exists()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = [int(s.pidfile.read_text().split()[0]) for s in (general, readers)]
    assert pids[0] != pids[1]
    WorkerSupervisor.stop_all([general, readers])
    assert not [pid for pid in pids if alive(pid)]
    assert not general.pidfile.exists() and not readers.pidfile.exists()
