"""``serve``'s Celery workers: kept running while serve runs, never left behind after.

serve runs two (``listen_service.run``), each with its own ``WorkerSupervisor``
and pidfile. A ``WorkerSupervisor`` promises:

- a worker that exits for any reason while serve runs is started again, after a
  delay that doubles from ``first_delay`` up to ``max_delay`` and goes back to
  ``first_delay`` once a worker has run for ``healthy_after`` seconds; each
  exit is logged with its status;
- ``stop()`` ends the worker and its pool processes (SIGTERM, then SIGKILL to
  its process group after ``grace`` seconds);
- if serve itself dies without stopping it (``kill -9``), the kernel sends the
  worker SIGTERM (a parent-death signal), and the next serve on the same data
  directory finds a worker still running there (``<data dir>/serve-worker.pid``, or
  ``serve-worker-<name>.pid`` for a named one) and stops
  it — after checking in ``/proc`` that the pid is a Celery worker of that
  very data directory, so that nothing else is ever signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from listen_service.procfs import alive, is_worker_of, parent_of

PR_SET_PDEATHSIG = 1


def _say(message: str) -> None:
    print(f"listen-service: {message}", file=sys.stderr, flush=True)


def describe(status: int) -> str:
    """An exit status as people read it: ``1`` or ``-9 (SIGKILL)``."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"{status} ({signal.Signals(-status).name})"
    return str(status)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn``: the child is sent SIGTERM when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up here, in the parent: the child between fork and exec must not
    # load libraries or take locks another thread may hold.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """``sig`` to the worker and its pool processes (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


class WorkerSupervisor:
    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        data_dir: Path,
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        healthy_after: float = 60.0,
        grace: float = 30.0,
        name: str | None = None,
    ) -> None:
        self.command = list(command)
        self.env = {**env, "LISTEN_DATA_DIR": str(data_dir)}
        self.data_dir = data_dir
        self.pidfile = data_dir / (f"serve-worker-{name}.pid" if name else "serve-worker.pid")
        self.first_delay, self.max_delay = first_delay, max_delay
        self.healthy_after, self.grace = healthy_after, grace
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"worker-supervisor-{name or 'main'}", daemon=True
        )

    def start(self) -> None:
        """Stop a worker orphaned by an earlier serve of this data dir, then run ours."""
        self.stop_orphan()
        self._thread.start()

    def begin_stop(self) -> None:
        """Ask the worker to stop (and stop restarting it), without waiting: see ``stop``."""
        with self._lock:
            if self._stopping.is_set():
                return  # asked already: a second SIGTERM must not hurry Celery's shutdown
            self._stopping.set()
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.terminate()  # Celery's warm shutdown: the task in hand finishes

    def stop(self) -> None:
        """Stop the worker (and stop restarting it); returns once it is gone."""
        self.begin_stop()
        proc = self._proc
        if self._thread.is_alive():
            self._thread.join(self.grace)
        if proc is not None and proc.poll() is None:
            _say(f"the worker (pid {proc.pid}) did not stop in {self.grace:g} s; killing it")
            _signal_group(proc.pid, signal.SIGKILL)
            self._thread.join(10)
        with contextlib.suppress(OSError):
            # Only our own record: another serve of this data dir may have written it since.
            if proc is not None and self.pidfile.read_text().split()[0] == str(proc.pid):
                self.pidfile.unlink()

    @staticmethod
    def stop_all(supervisors: Sequence[WorkerSupervisor]) -> None:
        """``stop`` each, their graces running at once rather than one after the other."""
        for supervisor in supervisors:
            supervisor.begin_stop()
        for supervisor in supervisors:
            supervisor.stop()

    def stop_orphan(self) -> int | None:
        """Stop the worker recorded in the pidfile if its serve is gone; its pid, or None."""
        try:
            worker, serve = map(int, self.pidfile.read_text().split())
        except (OSError, ValueError):
            return None
        if not is_worker_of(worker, self.data_dir):
            return None
        if parent_of(worker) == serve and alive(serve):
            _say(f"a worker (pid {worker}) of another running serve uses {self.data_dir}")
            return None
        _say(f"stopping the worker (pid {worker}) left running by an earlier serve")
        # Its own group (we started it so); checked, so as never to signal another group.
        try:
            group = os.getpgid(worker) == worker
        except ProcessLookupError:
            return worker
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group:
            _signal_group(worker, signal.SIGKILL)
        elif alive(worker) and is_worker_of(worker, self.data_dir):
            os.kill(worker, signal.SIGKILL)
        return worker

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self._proc = subprocess.Popen(
                self.command,
                env=self.env,
                # Its own process group, so that it and its pool can be
                # signalled together without touching serve.
                process_group=0,
                preexec_fn=_die_with_parent(),
            )
            try:
                self.pidfile.parent.mkdir(parents=True, exist_ok=True)
                # Replaced whole, so a reader never finds it empty.
                part = self.pidfile.with_name(f".{self.pidfile.name}.part")
                part.write_text(f"{self._proc.pid} {os.getpid()}\n")
                os.replace(part, self.pidfile)
            except OSError as exc:  # a full disk must not cost us the worker
                _say(f"cannot record the worker's pid in {self.pidfile}: {exc}")
            return self._proc

    def _run(self) -> None:
        # This thread starts every worker and outlives each: the parent-death
        # signal fires when the *thread* that forked the child ends.
        delay = self.first_delay
        while True:
            try:
                proc = self._spawn()
            except OSError as exc:  # no process could be made (EAGAIN, ENOMEM, …)
                _say(f"cannot start the worker ({exc}); trying again in {delay:g} s")
            else:
                if proc is None:
                    return
                started = time.monotonic()
                status = proc.wait()
                ran = time.monotonic() - started
                # Pool processes have a parent-death signal of their own; this
                # is for any that would outlive their worker all the same.
                _signal_group(proc.pid, signal.SIGKILL)
                if self._stopping.is_set():
                    return
                if ran >= self.healthy_after:
                    delay = self.first_delay
                _say(
                    f"the worker (pid {proc.pid}) exited with status {describe(status)} "
                    f"after {ran:.1f} s; starting it again in {delay:g} s"
                )
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_delay)
