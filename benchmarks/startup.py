"""How long ``listen-service serve`` takes to start: to its first answer, and to its first audio.

Each run starts ``python -m listen_service.cli serve`` on a free port with a
fresh data directory, and measures from the start of the process to

* ``/healthz`` answering (the web side is up; 200, or 503 while no worker
  has sent its first heartbeat), and
* a short article posted at once reading ``ready`` (the workers are up,
  with their speech engine and language detector loaded, and made audio).

With ``--reference DIR`` (another checkout, e.g. from before a change) the
same is measured there, runs alternating A B A B, with this interpreter:
``python -m`` imports the checkout's code from its directory.

Run from the repository root::

    python -m benchmarks.startup [--runs 3] [--reference /tmp/before]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._common import REPO_ROOT, machine_info, median, utc_now

TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def one_run(tree: Path) -> dict[str, float]:
    """Seconds from ``serve``'s start to its first answer and to its first audio."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "LISTEN_DATA_DIR": data}
        start = time.monotonic()
        serve = subprocess.Popen(
            [sys.executable, "-m", "listen_service.cli", "serve", "--port", str(port)],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while True:
                if time.monotonic() - start > TIMEOUT_S:
                    raise TimeoutError(f"serve in {tree} did not answer within {TIMEOUT_S} s")
                try:
                    _get(base + "/healthz")
                    break
                except urllib.error.HTTPError:
                    # 503 until a worker's heartbeat is in: still an answer of the web side.
                    break
                except OSError:
                    time.sleep(0.02)
            answered = time.monotonic() - start
            job = _get(base + "/api/v1/listen", {"text": f"Ready at {time.time()}."})
            while job["status"] not in ("ready", "failed"):
                if time.monotonic() - start > TIMEOUT_S:
                    raise TimeoutError(f"no audio from serve in {tree} within {TIMEOUT_S} s")
                time.sleep(0.02)
                job = _get(f"{base}/api/v1/jobs/{job['id']}")
            if job["status"] != "ready":
                raise RuntimeError(f"the first job failed: {job}")
            first_audio = time.monotonic() - start
        finally:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(30)
    return {"healthz_s": answered, "first_job_s": first_audio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", type=Path, help="another checkout to measure in turn")
    args = parser.parse_args(argv)
    trees = {"project": REPO_ROOT}
    if args.reference:
        trees["reference"] = args.reference.resolve()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for n in range(args.runs):
        for name, tree in trees.items():
            runs[name].append(one_run(tree))
            print(f"run {n + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    result: dict[str, Any] = {"date": utc_now(), "machine": machine_info(), "runs": runs}
    for name, found in runs.items():
        for figure in ("healthz_s", "first_job_s"):
            value = median([r[figure] for r in found])
            result[f"{name}_{figure}_median"] = round(value, 3)
            print(f"{name:9} {figure:11} median {value:.2f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
