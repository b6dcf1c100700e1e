"""Helpers shared by the benchmarks: test texts, timed child processes, machine facts.

Child processes are reaped with ``os.wait4`` so that each one's peak resident
memory comes straight from the kernel. On Linux that figure (``ru_maxrss``) is
the larger of the process's own peak and the peaks of any children it reaped
itself, so a process that runs ffmpeg reports the bigger of the two.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTICLE = REPO_ROOT / "tests" / "fixtures" / "hktdc-beijing-symposium.txt"


@dataclass(frozen=True, slots=True)
class Reaped:
    """How one child process ended: exit status, peak RSS and CPU time."""

    returncode: int
    peak_rss_mb: float
    cpu_s: float


def paragraphs(text: str) -> list[str]:
    """The non-empty, blank-line-separated paragraphs of ``text``."""
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def build_text(
    words: int, source: Path = ARTICLE, *, title: str | None = None, shift: int = 0
) -> str:
    """About ``words`` words made from ``source``'s paragraphs, repeated with variation.

    An optional ``title`` paragraph comes first. Each block of paragraphs is
    rotated by ``shift`` plus its number, and each block after the first
    starts with a "Part N." paragraph, so no two blocks (nor two texts with
    different ``title``/``shift``) are byte-identical: the cache and the
    engine see fresh text. Paragraphs are added until the count
    (``str.split``) reaches ``words``.
    """
    paras = paragraphs(source.read_text(encoding="utf-8"))
    out = [title] if title else []
    count = len(title.split()) if title else 0
    block = 0
    while count < words:
        k = (shift + block) % len(paras)
        rotated = paras[k:] + paras[:k]
        chunk = rotated if block == 0 else [f"Part {block + 1}.", *rotated]
        for para in chunk:
            out.append(para)
            count += len(para.split())
            if count >= words:
                break
        block += 1
    return "\n\n".join(out) + "\n"


def log(message: str) -> None:
    """Progress for the person running a benchmark (stdout is kept for results)."""
    print(message, file=sys.stderr, flush=True)


def reap(proc: subprocess.Popen[bytes]) -> Reaped:
    """Wait for ``proc`` with ``os.wait4`` and return its status and resource use."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux.
    return Reaped(
        returncode=proc.returncode,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )


def now() -> float:
    """A monotonic clock for wall times."""
    return time.perf_counter()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ffprobe_duration(path: Path) -> float:
    """The container duration of an audio file in seconds, as ffprobe reads it."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def first_line(cmd: Sequence[str]) -> str:
    """The first line a command prints, or a note that it could not run."""
    try:
        out = subprocess.run(list(cmd), check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unavailable ({exc})"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _huge_pages_mode() -> str | None:
    """The kernel's transparent huge page mode (``always``, ``madvise`` or ``never``)."""
    try:
        modes = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    chosen = re.search(r"\[(\w+)\]", modes)
    return chosen.group(1) if chosen else None


def machine_info() -> dict[str, object]:
    """Facts about this machine and the tools a benchmark depends on."""
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gib": _mem_total_gib(),
        "transparent_huge_pages": _huge_pages_mode(),
        "python": platform.python_version(),
        "espeak_ng": first_line(["espeak-ng", "--version"]),
        "ffmpeg": first_line(["ffmpeg", "-version"]),
    }


def utc_now() -> str:
    """The current time in UTC, ISO 8601, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
