"""Fixtures shared by every tier: the real engine, a fresh cache, ffprobe."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio_cache import AudioCache

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE = FIXTURES / "hktdc-beijing-symposium.txt"


@pytest.fixture(scope="session")
def article() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    from workers.engine import get_engine

    return get_engine()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[AudioCache]:
    yield AudioCache(tmp_path / "audio")


def require(binary: str) -> str:
    """Path of a binary the tests need; fail (never skip) when it is missing."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is required by this test; .ci/run installs it")
    return path


def ffmpeg_killed_after(seconds: int, folder: Path) -> Path:
    """A script that runs the real ffmpeg and kills it ``seconds`` in: an encoder
    that dies in the middle of an article."""
    script = folder / "ffmpeg"
    script.write_text(f'#!/bin/sh\nexec timeout -s KILL {seconds} {require("ffmpeg")} "$@"\n')
    script.chmod(0o755)
    return script


def ffprobe(path: Path) -> dict:  # type: ignore[type-arg]
    """Format and stream facts of a media file; fails the test if ffprobe rejects it."""
    out = subprocess.run(
        [
            require("ffprobe"),
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, f"ffprobe rejected {path}: {out.stderr}"
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def no_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]
