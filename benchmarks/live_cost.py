"""What progressive output costs a whole article: one synthesis, with or without ``live``.

Workers render with ``synthesize(..., live=True)``: the encoder's temp file
is published under its live name, ffmpeg flushes every packet
(``-flush_packets 1``) so readers get each sentence at once, each sentence's
timing is appended to a file beside it, and a thread watches for the first
audio. This renders one
article in a fresh cache either way, in this process, and prints the wall
seconds of ``synthesize`` alone (engine start-up excluded) on stdout. Pair
two runs to compare, A/B in turn on a quiet machine, e.g. with
``/usr/bin/time`` or hyperfine::

    python -m benchmarks.live_cost --words 10000 --live
    python -m benchmarks.live_cost --words 10000 --no-live

Against the code from before progressive output (issue 8), run the same
script in a checkout of it (``python -m`` imports the checkout's code from
the current directory)::

    git worktree add /tmp/before 78e9261 && cp benchmarks/live_cost.py /tmp/before/benchmarks/
    cd /tmp/before && python -m benchmarks.live_cost --words 10000 --no-live
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from audio_cache import AudioCache
from benchmarks._common import build_text
from workers.engine import get_engine
from workers.pipeline import Request, plan, synthesize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--live", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="listen-live-cost-"))
    try:
        engine = get_engine()
        job = plan(Request(text=build_text(args.words)), engine.voices(), max_chars=10_000_000)
        started = time.perf_counter()
        # As the worker runs it: live output, timings as they are made, and
        # the watcher that notes the first audio (here reported to nobody).
        # A checkout from before progressive output has neither argument.
        options: dict[str, Any] = {}
        if "live" in inspect.signature(synthesize).parameters:
            options = {"live": args.live, "first_audio": (lambda: None) if args.live else None}
        elif args.live:
            parser.error("this checkout has no live output: run it with --no-live")
        entry, _ = synthesize(job, cache=AudioCache(work), engine=engine, **options)
        elapsed = time.perf_counter() - started
        print(f"{elapsed:.3f} s live={args.live} audio={entry.duration_s:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
