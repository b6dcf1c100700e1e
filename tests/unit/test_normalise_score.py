"""Quality gate: the shared scorer, with the real espeak-ng, on our speech fixtures.

The scorer compares espeak-ng's phonemes for our spoken form with those of a careful
newsreader's reading. Raw espeak-ng scores 16/63 on en-news. The floors are the scores
reached when the normaliser was built (en-news 63/63, en-more 123/123, en-blind 40/40;
en-lead 30/30, written afterwards by someone else and scored once), less a margin so
that an improvement elsewhere that trades one case does not block.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT / "tests/fixtures/speech"

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def score(fixture: str, *cmd: str) -> float:
    """The scorer's fraction right on ``fixture``, driving ``cmd`` (none: raw espeak-ng)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/spoken_score.py"), str(SPEECH / fixture), *cmd],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"spoken-correct (\d+)/(\d+)", done.stdout)
    assert found, done.stdout
    right, total = int(found.group(1)), int(found.group(2))
    assert total >= 30
    return right / total


@pytest.mark.parametrize(
    ("fixture", "floor"),
    [("en-news.tsv", 0.95), ("en-more.tsv", 0.95), ("en-blind.tsv", 0.90), ("en-lead.tsv", 0.90)],
)
def test_spoken_score_floor(fixture: str, floor: float) -> None:
    normalize = f"{shlex.quote(sys.executable)} -m listen_service.cli normalize"
    assert score(fixture, "--cmd", f"cd {shlex.quote(str(ROOT))} && {normalize}") >= floor


def test_raw_espeak_scores_below_the_floor() -> None:
    """The scorer can fail: without the normaliser, en-news scores far below its floor."""
    assert score("en-news.tsv") < 0.5
