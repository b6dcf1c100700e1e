"""Text → MP3 on disk: the project's pipeline against plain espeak-ng | ffmpeg.

Compared, on the same texts, voice, rate and bitrate:

* project: ``python -m listen_service.cli synth TEXT --json`` with a fresh
  ``LISTEN_DATA_DIR`` per run, so the cache is always cold;
* reference: ``espeak-ng -s R -v VOICE --stdout -f TEXT | ffmpeg ... libmp3lame``,
  two processes joined by a pipe — the least work that turns text into an MP3.

Runs alternate (P R P R …) after one untimed warm-up of each. Wall time spans
the whole life of the process(es); peak memory comes from ``os.wait4``. Both
outputs are measured with ffprobe, and their duration ratio is printed as a
correctness check (the project trims and re-inserts pauses, so ~1.0).

Run from the repository root::

    python -m benchmarks.pipeline [--sizes 500,2000,10000] [--reps 3] [--keep] [--versus DIR]

``--versus DIR`` also runs the project's command in another checkout (say,
``git worktree add /tmp/before <commit>``), in turn with this one's, and
reports the paired ratio: what a change costs, in the same run.

Human-readable tables go to stdout; the last line of stdout is one JSON object
with every figure. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import (
    REPO_ROOT,
    build_text,
    ffprobe_duration,
    log,
    machine_info,
    median,
    now,
    reap,
    utc_now,
)

RATIO_LIMIT = 1.25
GROWTH_LIMIT = 22.0
RSS_LIMIT_MB = 250.0
# What a change may add, measured with --versus a checkout from before it.
VERSUS_LIMIT = 1.10


@dataclass(frozen=True, slots=True)
class Settings:
    rate: int
    voice: str
    reference_voice: str
    bitrate: int


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: wall and CPU seconds, peak RSS and the output's duration."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    audio_s: float


@dataclass(slots=True)
class SizeResult:
    words: int
    project: list[Run] = field(default_factory=list)
    reference: list[Run] = field(default_factory=list)
    versus: list[Run] = field(default_factory=list)  # the project's command in another checkout

    def as_dict(self) -> dict[str, object]:
        p = median([r.wall_s for r in self.project])
        ref = median([r.wall_s for r in self.reference])
        p_audio = self.project[0].audio_s
        r_audio = self.reference[0].audio_s
        versus: dict[str, object] = {}
        if self.versus:
            # Pair by pair (runs alternate), as the machine's speed drifts.
            walls = [a.wall_s / b.wall_s for a, b in zip(self.project, self.versus, strict=True)]
            cpus = [a.cpu_s / b.cpu_s for a, b in zip(self.project, self.versus, strict=True)]
            versus = {
                "versus_median_s": round(median([r.wall_s for r in self.versus]), 3),
                "versus_runs": [round(r.wall_s, 3) for r in self.versus],
                "versus_cpu_median_s": round(median([r.cpu_s for r in self.versus]), 3),
                "versus_peak_rss_mb": round(max(r.peak_rss_mb for r in self.versus), 1),
                "project_over_versus_wall": round(median(walls), 3),
                "project_over_versus_cpu": round(median(cpus), 3),
            }
        return {
            **versus,
            "words": self.words,
            "project_median_s": round(p, 3),
            "reference_median_s": round(ref, 3),
            "ratio": round(p / ref, 3),
            "project_peak_rss_mb": round(max(r.peak_rss_mb for r in self.project), 1),
            "reference_peak_rss_mb": round(max(r.peak_rss_mb for r in self.reference), 1),
            "project_runs": [round(r.wall_s, 3) for r in self.project],
            "reference_runs": [round(r.wall_s, 3) for r in self.reference],
            "project_cpu_median_s": round(median([r.cpu_s for r in self.project]), 3),
            "reference_cpu_median_s": round(median([r.cpu_s for r in self.reference]), 3),
            "audio_s": {
                "project": round(p_audio, 2),
                "reference": round(r_audio, 2),
                "ratio": round(p_audio / r_audio, 3),
            },
        }


def run_project(
    text: Path, settings: Settings, work: Path, keep: bool, tree: Path = REPO_ROOT
) -> Run:
    """Synthesise ``text`` through the CLI of the checkout ``tree`` into a fresh, empty cache."""
    data_dir = Path(tempfile.mkdtemp(prefix="project-", dir=work))
    cmd = [sys.executable, "-m", "listen_service.cli", "synth", str(text)]
    cmd += ["--rate", str(settings.rate), "--voice", settings.voice]
    cmd += ["--bitrate", str(settings.bitrate), "--json"]
    env = {**os.environ, "LISTEN_DATA_DIR": str(data_dir)}
    with tempfile.TemporaryFile() as err:
        start = now()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=tree)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        reaped = reap(proc)
        wall = now() - start
        if reaped.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"project synth failed: {err.read().decode(errors='replace')}")
    result = json.loads(out)
    audio = Path(result["path"])
    if not audio.is_file():
        raise RuntimeError(f"project reported {audio}, which does not exist")
    duration = ffprobe_duration(audio)
    if not keep:
        shutil.rmtree(data_dir)
    return Run(wall, reaped.cpu_s, reaped.peak_rss_mb, duration)


def run_reference(text: Path, settings: Settings, out: Path) -> Run:
    """Render ``text`` with ``espeak-ng --stdout`` piped straight into ffmpeg."""
    speak = ["espeak-ng", "-s", str(settings.rate), "-v", settings.reference_voice]
    speak += ["--stdout", "-f", str(text)]
    encode = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0"]
    encode += ["-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{settings.bitrate}k", "-y", str(out)]
    start = now()
    espeak = subprocess.Popen(speak, stdout=subprocess.PIPE)
    ffmpeg = subprocess.Popen(encode, stdin=espeak.stdout)
    assert espeak.stdout is not None
    # Only ffmpeg should hold the read end, so espeak sees EPIPE if ffmpeg dies.
    espeak.stdout.close()
    encoded = reap(ffmpeg)
    spoken = reap(espeak)
    wall = now() - start
    if encoded.returncode != 0 or spoken.returncode != 0:
        raise RuntimeError(
            f"reference failed: espeak {spoken.returncode}, ffmpeg {encoded.returncode}"
        )
    return Run(
        wall,
        encoded.cpu_s + spoken.cpu_s,
        max(encoded.peak_rss_mb, spoken.peak_rss_mb),
        ffprobe_duration(out),
    )


def write_texts(sizes: Sequence[int], work: Path) -> dict[int, Path]:
    """One text file per requested size, built from the fixture article."""
    files: dict[int, Path] = {}
    for size in sizes:
        path = work / f"text-{size}.txt"
        path.write_text(build_text(size), encoding="utf-8")
        files[size] = path
    return files


def measure(
    texts: dict[int, Path],
    settings: Settings,
    reps: int,
    work: Path,
    keep: bool,
    versus: Path | None = None,
) -> dict[int, SizeResult]:
    """Warm up once, then alternate project, versus (if any) and reference runs for every size."""
    first = texts[min(texts)]
    log("warm-up (untimed)")
    run_project(first, settings, work, keep=False)
    if versus is not None:
        run_project(first, settings, work, keep=False, tree=versus)
    run_reference(first, settings, work / "warmup.mp3")
    results: dict[int, SizeResult] = {}
    for size, text in texts.items():
        words = len(text.read_text(encoding="utf-8").split())
        result = SizeResult(words)
        for rep in range(reps):
            result.project.append(run_project(text, settings, work, keep))
            log(f"{size}: project   rep {rep + 1}: {result.project[-1].wall_s:.2f} s")
            if versus is not None:
                result.versus.append(run_project(text, settings, work, keep, tree=versus))
                log(f"{size}: versus    rep {rep + 1}: {result.versus[-1].wall_s:.2f} s")
            out = work / f"reference-{size}-{rep + 1}.mp3"
            result.reference.append(run_reference(text, settings, out))
            log(f"{size}: reference rep {rep + 1}: {result.reference[-1].wall_s:.2f} s")
        results[size] = result
    return results


def growth(summary: dict[int, dict[str, object]], key: str) -> float:
    """median(largest size) / median(smallest size) for one pipeline."""
    small, large = summary[min(summary)][key], summary[max(summary)][key]
    assert isinstance(small, float) and isinstance(large, float)
    return round(large / small, 2)


def targets(summary: dict[int, dict[str, object]], project_growth: float) -> dict[str, bool]:
    small, large = min(summary), max(summary)

    def ratio(size: int) -> float:
        value = summary[size]["ratio"]
        assert isinstance(value, float)
        return value

    rss = summary[large]["project_peak_rss_mb"]
    assert isinstance(rss, float)
    return {
        f"ratio_at_{small}_words_le_{RATIO_LIMIT}": ratio(small) <= RATIO_LIMIT,
        f"ratio_at_{large}_words_le_{RATIO_LIMIT}": ratio(large) <= RATIO_LIMIT,
        f"project_growth_le_{GROWTH_LIMIT:g}": project_growth <= GROWTH_LIMIT,
        f"project_peak_rss_at_{large}_words_le_{RSS_LIMIT_MB:g}_mb": rss <= RSS_LIMIT_MB,
    }


def print_table(summary: dict[int, dict[str, object]]) -> None:
    head = (
        f"{'words':>6} {'project s':>10} {'ref s':>8} {'ratio':>6} "
        f"{'proj RSS MB':>11} {'ref RSS MB':>10} {'audio s (P/R)':>16} {'dur ratio':>9}"
    )
    print(head)
    print("-" * len(head))
    for row in summary.values():
        audio = row["audio_s"]
        assert isinstance(audio, dict)
        print(
            f"{row['words']:>6} {row['project_median_s']:>10.2f} {row['reference_median_s']:>8.2f} "
            f"{row['ratio']:>6.2f} {row['project_peak_rss_mb']:>11.1f} "
            f"{row['reference_peak_rss_mb']:>10.1f} "
            f"{audio['project']:>7.1f}/{audio['reference']:<8.1f} {audio['ratio']:>9.3f}"
        )


def report(results: dict[int, SizeResult], settings: Settings, reps: int) -> dict[str, object]:
    """Print the tables and targets; return everything as one JSON-ready dict."""
    summary = {size: r.as_dict() for size, r in sorted(results.items())}
    print_table(summary)
    g_project = growth(summary, "project_median_s")
    g_reference = growth(summary, "reference_median_s")
    small, large = min(summary), max(summary)
    print()
    print(f"growth median({large})/median({small}): ", end="")
    print(f"project {g_project:.2f}, reference {g_reference:.2f}")
    print("(project peak RSS is the synth process tree: Python, or its ffmpeg child if larger)")
    met = targets(summary, g_project)
    if "project_over_versus_wall" in summary[large]:
        print()
        for size, row in summary.items():
            print(
                f"{size} words: project / versus (paired medians) wall "
                f"{row['project_over_versus_wall']:.3f}, cpu {row['project_over_versus_cpu']:.3f}; "
                f"peak RSS {row['project_peak_rss_mb']} / {row['versus_peak_rss_mb']} MB"
            )
        wall = summary[large]["project_over_versus_wall"]
        assert isinstance(wall, float)
        met[f"project_over_versus_at_{large}_words_le_{VERSUS_LIMIT}"] = wall <= VERSUS_LIMIT
    print()
    for name, ok in met.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return {
        "benchmark": "pipeline",
        "date": utc_now(),
        "settings": {
            "rate": settings.rate,
            "voice": settings.voice,
            "reference_voice": settings.reference_voice,
            "bitrate_kbps": settings.bitrate,
            "reps": reps,
        },
        "sizes": {str(size): row for size, row in summary.items()},
        "growth": {"project": g_project, "reference": g_reference, "from": small, "to": large},
        "targets": met,
        "machine": machine_info(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default="500,2000,10000",
        help="comma-separated word counts (default 500,2000,10000)",
    )
    parser.add_argument(
        "--reps", type=int, default=3, help="timed runs of each pipeline per size (default 3)"
    )
    parser.add_argument("--rate", type=int, default=175, help="words per minute (default 175)")
    parser.add_argument("--voice", default="gmw/en", help="project voice id (default gmw/en)")
    parser.add_argument(
        "--reference-voice", default="en", help="espeak-ng -v name for the same voice (default en)"
    )
    parser.add_argument("--bitrate", type=int, default=64, help="MP3 kbit/s (default 64)")
    parser.add_argument("--keep", action="store_true", help="keep texts and outputs; print where")
    parser.add_argument(
        "--versus",
        type=Path,
        help="another checkout (e.g. from before a change) whose CLI runs in turn with this one's",
    )
    args = parser.parse_args(argv)
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if len(args.sizes) < 2 or args.reps < 1:
        parser.error("need at least two sizes and --reps >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(args.rate, args.voice, args.reference_voice, args.bitrate)
    work = Path(tempfile.mkdtemp(prefix="listen-bench-"))
    try:
        texts = write_texts(args.sizes, work)
        results = measure(texts, settings, args.reps, work, args.keep, args.versus)
        figures = report(results, settings, args.reps)
    finally:
        if args.keep:
            log(f"kept texts and outputs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
