"""A clean install: the wheel, installed without extras into a fresh virtualenv.

The virtualenv is built once per session. Tests run its ``listen-service``
as separate processes, from a working directory outside the repository and
with an environment that names no ``LISTEN_*`` setting and no ``PYTHONPATH``,
so what they exercise is what ``pip install listen`` gives a user: a module
that only the repository's dev extras bring fails here.

Nothing is skipped: a wheel that does not build, a dependency pip cannot
install or a Redis that does not answer fails the tests.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("LISTEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
# Generous: pip may download every dependency, and other jobs share the machine.
INSTALL_TIMEOUT = 900


def run(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a build step; fail the test with its output when it fails."""
    try:
        done = subprocess.run(
            [str(part) for part in cmd],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(map(str, cmd))} took over {INSTALL_TIMEOUT} s: {exc.output!r}")
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


def copy_sources(dest: Path, packages: bool = True) -> Path:
    """What the Dockerfile copies: pyproject.toml, README.md and (if ``packages``) the packages.

    Building from a copy keeps setuptools' ``build/`` out of the repository,
    where files left by an earlier build would end up in the next wheel.
    """
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    if packages:
        config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        for pattern in config["tool"]["setuptools"]["packages"]["find"]["include"]:
            package = pattern.rstrip("*")
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / package, dest / package, ignore=ignore)
    return dest


def build_wheel(project: Path, out: Path) -> Path:
    """The project's wheel, built by pip as a user or the Docker image would build it."""
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, project],
        cwd=out.parent,
    )
    wheels = sorted(out.glob("listen-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@dataclass(frozen=True)
class Install:
    """A virtualenv holding the wheel and its runtime dependencies, nothing else."""

    venv: Path
    wheel: Path

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def env(self, home: Path, **settings: str) -> dict[str, str]:
        """A user's environment: this venv first on PATH, only the given settings."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LISTEN_", "PYTHON", "VIRTUAL_ENV"))
        }
        env.update(settings)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        # The default data directory and gunicorn's control socket live under
        # HOME: a private one keeps runs and parallel sessions apart.
        env["HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        return env


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    work = tmp_path_factory.mktemp("clean-install")
    (work / "wheels").mkdir()
    wheel = build_wheel(copy_sources(work / "src"), work / "wheels")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=work)
    install = Install(venv, wheel)
    python = install.bin("python")
    # The wheel alone, no extras: pip brings exactly what it declares (through
    # the real HOME's pip cache, which only saves downloads).
    run([python, "-m", "pip", "install", "-q", wheel], cwd=work, env=install.env(Path.home()))
    where = run(
        [python, "-c", "import listen_service; print(listen_service.__file__)"],
        cwd=work,
        env=install.env(work),
    )
    assert Path(where.strip()).is_relative_to(venv), f"imported from {where}, not the install"
    dev_only = run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('pytest') is None)"],
        cwd=work,
        env=install.env(work),
    )
    assert dev_only.strip() == "True", "the clean install holds the dev extras"
    return install


@pytest.fixture
def redis_db() -> Iterator[str]:
    """The test Redis database, empty; emptied again afterwards. Yields its URL.

    The next database is emptied too: job records may live there, apart from
    the broker's (see ``LISTEN_REDIS_URL``).
    """
    url = urlsplit(REDIS_URL)
    following = urlunsplit(url._replace(path=f"/{int(url.path.strip('/') or 0) + 1}"))
    clients = [redis.Redis.from_url(REDIS_URL), redis.Redis.from_url(following)]
    try:
        clients[0].ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} (.ci/run starts it): {exc}")
    for client in clients:
        client.flushdb()
    yield REDIS_URL
    for client in clients:
        client.flushdb()
        client.close()


class Process:
    """A command of the installed service, logged to a file, in a session of its own."""

    def __init__(self, argv: Sequence[str | Path], env: dict[str, str], cwd: Path, log: Path):
        self.log = log
        with log.open("wb") as handle:
            # Its own session, so that stop() also ends the children it started
            # (gunicorn's workers, Celery's pool) if it dies without them.
            self.proc = subprocess.Popen(
                [str(part) for part in argv],
                cwd=cwd,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        """The first match of ``pattern`` in the log; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.text())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"{self.proc.args!r}: no {pattern!r} in its log:\n{self.text()[-4000:]}"
                )
            time.sleep(0.1)
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Processes a test starts; all stopped at its end."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()
