"""How long 1,000 webhook events take to queue and deliver to a local receiver.

A fresh data directory (file job store) holds ``--events`` ready jobs that one
site sent with its secret key, each with a small committed cache entry, and
the site's webhook points at a receiver on loopback (``ThreadingHTTPServer``,
answering 204). Timed: ``announce`` for every job (what a worker does when a
job ends: reads the record, the index and the cache, writes one outbox file),
then delivery passes (``deliver_due``, ``PARALLEL`` threads, as a worker's
delivery thread runs them) until the outbox is empty, every event signed,
sent, answered and logged. The reference in the same run is the receiver's
own cost: the same number of POSTs of the same bodies from the same number of
threads, one connection each, with ``http.client`` and nothing else.

Run from the repository root::

    python -m benchmarks.webhooks [--events 1000] [--runs 3]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks._common import machine_info, median, utc_now
from listen_service import create_app
from listen_service.webhooks.deliver import PARALLEL, deliver_due
from listen_service.webhooks.events import announce
from listen_service.webhooks.store import Hook, Webhooks


class _Receiver(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with _Receiver.lock:
            _Receiver.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _one_run(events: int, url: str) -> tuple[float, float, float, list[bytes]]:
    data = Path(tempfile.mkdtemp())
    try:
        app = create_app(
            {
                "LISTEN_DATA_DIR": str(data),
                "LISTEN_SITE_KEYS": "news:news-public-key-0001",
                "LISTEN_WEBHOOK_ALLOW_PRIVATE": True,
            }
        )
        store, cache = app.extensions["listen_jobs"], app.extensions["listen_cache"]
        index = app.extensions["listen_site_index"]
        hooks = Webhooks(data)
        hooks.register(Hook("news", url, "whsec_bench", "https://listen.example", time.time()))
        ids = []
        for n in range(events):
            job_id = secrets.token_hex(32)
            audio = data / f"{job_id}.mp3"
            audio.write_bytes(b"\xff\xfb" + secrets.token_bytes(2000))
            cache.put(job_id, audio, fmt="mp3", duration_s=120.0, title=f"Article {n}")
            store.accept(job_id, {"text": "x"}, site="news")
            store.finish(job_id, 120.0)
            index.add("news", job_id, f"Article {n}", via="publisher")
            ids.append(job_id)
        started = time.perf_counter()
        queued = sum(announce(app, job_id) for job_id in ids)
        enqueued = time.perf_counter()
        assert queued == events
        # The same bytes as deliver sends, for the reference; not timed.
        bodies = [_body(path) for path in hooks.outbox.iterdir()]
        began = time.perf_counter()
        outcomes: list[str] = []
        settings = dict(app.config)
        with ThreadPoolExecutor(PARALLEL) as pool:
            while len(outcomes) < events:
                outcomes += deliver_due(hooks, settings, pool)
        delivered = time.perf_counter()
        assert outcomes.count("delivered") == events and not hooks.pending(), outcomes[:5]
        return (
            enqueued - started,
            delivered - began,
            (delivered - began) + (enqueued - started),
            bodies,
        )
    finally:
        shutil.rmtree(data)


def _body(path: Path) -> bytes:
    event = json.loads(path.read_bytes())["body"]
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def _reference(bodies: list[bytes], port: int) -> float:
    def send(body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request(
                "POST", "/hook", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = list(pool.map(send, bodies))
    took = time.perf_counter() - started
    assert statuses == [204] * len(bodies)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/hooks/listen"
    enqueue, deliver, total, reference = [], [], [], []
    for _ in range(args.runs):
        queued_s, delivered_s, both_s, bodies = _one_run(args.events, url)
        enqueue.append(queued_s)
        deliver.append(delivered_s)
        total.append(both_s)
        reference.append(_reference(bodies, port))
    server.shutdown()
    result = {
        "date": utc_now(),
        "machine": machine_info(),
        "events": args.events,
        "parallel": PARALLEL,
        "runs": args.runs,
        "enqueue_median_s": round(median(enqueue), 3),
        "deliver_median_s": round(median(deliver), 3),
        "total_median_s": round(median(total), 3),
        "receiver_only_median_s": round(median(reference), 3),
        "deliver_ratio": round(median(deliver) / median(reference), 2),
        "received": _Receiver.count,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
