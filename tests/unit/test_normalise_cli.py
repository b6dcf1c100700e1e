"""`listen-service normalize` as the scorer runs it: a real process reading standard input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def normalize(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "normalize", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_prints_one_spoken_line_per_line_read_in_order() -> None:
    done = normalize("In 2019, services grew.\n\nprices rose 3-5%\n£240m\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "In twenty nineteen, services grew.",
        "",
        "prices rose three to five percent",
        "two hundred and forty million pounds",
    ]


def test_date_order_and_language_are_passed_on() -> None:
    assert normalize("on 05/06/2021\n", "--date-order", "mdy").stdout == (
        "on May sixth, twenty twenty-one\n"
    )
    assert normalize("on 05/06/2021\n").stdout == "on the fifth of June twenty twenty-one\n"
    german = normalize("Am 5. Mai stimmt das.[3] Wirklich!!!\n", "--lang", "de")
    assert german.stdout == "Am 5. Mai stimmt das. Wirklich!\n"


def test_answers_each_line_before_the_next_is_written() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "listen_service.cli", "normalize"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("Mr Lee said\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "mister Lee said\n"
        proc.stdin.write("in the 1990s\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "in the nineteen nineties\n"
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()


def test_a_bad_date_order_is_a_usage_error() -> None:
    done = normalize("x\n", "--date-order", "ymd")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
