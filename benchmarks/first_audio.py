"""Time to first audio: a reader presses Listen in real Chromium; how soon does sound play?

``listen-service serve`` with its defaults (a fresh data directory, its
default worker lanes and concurrency) and a publisher's page on another
origin (a tiny server in this process) that embeds ``player.js``. Debian's
Chromium, driven by Playwright, clicks the Listen button; the page itself
records the time of the press (``pointerdown``) and the first moment
``audio.currentTime > 0`` (polled every 5 ms), so the figure is what a
reader sees, browser included. Scenarios, ``--presses`` each, a new text for
every press:

* (a) demo: the demo article (~460 words);
* (b) long: a ``--long-words`` article (10,000);
* (c) busy: the demo article just after ``--bulk`` distinct ``--bulk-words``
  articles were posted as ``"priority": "bulk"`` (the backlog grows press by
  press; it is not waited for).

Beside each press, in the same run, the time the whole article takes (press
→ the job reads ready): how long a reader waited before progressive audio.
Also at the API level, for (a) and (b): ``POST /api/v1/listen`` → the first
16 KB of audio read from ``audio_url``.

Each press waits for its job to be ready before the next one (c's backlog
aside), so presses do not compete with each other. The per-address rate
limits are lifted (every request comes from 127.0.0.1).

Run from the repository root (about ten minutes)::

    python -m benchmarks.first_audio [--presses 10] [--bulk 20] [--long-words 10000]

Tables go to stdout, then PASS/MISS lines against the targets; the last
line of stdout is one JSON object with every figure. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks._common import build_text, log, machine_info, utc_now
from benchmarks.service import (
    Proc,
    Server,
    free_port,
    service_env,
    spawn,
    summary,
    wait_healthy,
)

DEMO_WORDS = 460
BULK_WORDS = 2000
FIRST_BYTES = 16 * 1024
JOB_TIMEOUT_S = 300.0
TARGETS = {"demo": (0.5, 1.0), "long": (0.5, 1.0), "busy": (1.0, None)}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]
PLAYER = "document.querySelector('listen-button')"
# Installed on the page before the press: the press and the first sound, on the page's clock.
TIMERS = f"""() => {{
    const a = {PLAYER}.shadowRoot.querySelector('audio');
    window.pressed = null; window.sounded = null;
    document.addEventListener('pointerdown', () => {{ window.pressed = performance.now(); }},
                              {{capture: true, once: true}});
    const poll = setInterval(() => {{
        if (window.pressed !== null && a.currentTime > 0) {{
            window.sounded = performance.now();
            clearInterval(poll);
        }}
    }}, 5);
}}"""


class Site:
    """The publisher: pages on an origin of their own, ``pages[path] = html``."""

    def __init__(self) -> None:
        pages: dict[str, bytes] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.pages = pages
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self, path: str, text: str, service: str) -> str:
        body = "".join(f"<p>{html.escape(p)}</p>\n" for p in text.split("\n\n") if p.strip())
        self.pages[path] = (
            '<!doctype html><html><head><meta charset="utf-8"><title>Article</title>'
            f'<script src="{service}/player.js" defer></script></head><body>'
            '<listen-button data-for="#story"></listen-button>'
            f'<article id="story">{body}</article></body></html>'
        ).encode()
        return self.origin + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_ready(server: Server, job_id: str) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        asked = time.monotonic()
        status, body = server.json("GET", f"/api/v1/jobs/{job_id}?wait=30")
        if status == 200 and body["status"] == "ready":
            return
        if status != 200 or body["status"] == "failed":
            raise RuntimeError(f"job {job_id}: {status} {body}")
        # Answered at once when this address already holds its share of
        # waits (the page's event stream and audio stream): poll instead.
        if time.monotonic() - asked < 0.05:
            time.sleep(0.05)
    raise RuntimeError(f"job {job_id} not ready after {JOB_TIMEOUT_S:g} s")


def press(browser: Any, site: Site, server: Server, url: str) -> tuple[float, float]:
    """Press Listen on ``url``: (seconds to the first sound, seconds to the job ready)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(f"() => {PLAYER} && {PLAYER}.shadowRoot")
        page.evaluate(TIMERS)
        started = time.monotonic()
        page.click("listen-button button.main")
        page.wait_for_function("() => window.sounded !== null", timeout=JOB_TIMEOUT_S * 1000)
        first = page.evaluate("(window.sounded - window.pressed) / 1000")
        job_id = page.evaluate(f"{PLAYER}.meta.id")
        wait_ready(server, job_id)
        whole = time.monotonic() - started
        return float(first), whole
    finally:
        context.close()


def first_bytes(server: Server, text: str) -> float:
    """POST the article, then read its audio URL until FIRST_BYTES arrive: seconds."""
    started = time.monotonic()
    status, job = server.json("POST", "/api/v1/listen", {"text": text, "priority": "interactive"})
    if status not in (200, 202):
        raise RuntimeError(f"POST: {status} {job}")
    path = job["audio_url"].split("://", 1)[-1].split("/", 1)[-1]
    while True:
        conn = server.connect()
        try:
            conn.request("GET", "/" + path)
            response = conn.getresponse()
            if response.status == 200:
                got = 0
                while got < FIRST_BYTES:
                    chunk = response.read1(FIRST_BYTES)
                    if not chunk:
                        break
                    got += len(chunk)
                if got >= FIRST_BYTES:
                    elapsed = time.monotonic() - started
                    break
            else:
                response.read()
        finally:
            conn.close()
        if time.monotonic() - started > JOB_TIMEOUT_S:
            raise RuntimeError(f"no audio for {job['id']}")
        time.sleep(0.005)
    wait_ready(server, job["id"])
    return elapsed


@contextmanager
def service(work: Path, site: Site) -> Iterator[Server]:
    port = free_port()
    env = service_env(work / "data", None)
    env["LISTEN_ALLOWED_ORIGINS"] = site.origin
    proc: Proc = spawn("serve", ["serve", "--port", str(port)], env, work)
    try:
        server = Server("127.0.0.1", port)
        wait_healthy(server, [proc])
        yield server
    finally:
        proc.stop()


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    site = Site()
    counter = iter(range(1_000_000))

    def text(words: int, kind: str) -> str:
        n = next(counter)
        return build_text(words, title=f"{kind.title()} article {n}.", shift=n)

    results: dict[str, Any] = {}
    try:
        with service(work, site) as server, sync_playwright() as p:
            chromium = shutil.which("chromium") or "/usr/bin/chromium"
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            svc = f"http://{server.host}:{server.port}"

            def presses(kind: str, words: int, before: Callable[[], None] | None = None) -> None:
                firsts, wholes = [], []
                for i in range(args.presses):
                    if before is not None:
                        before()
                    url = site.page(f"/{kind}-{i}.html", text(words, kind), svc)
                    first, whole = press(browser, site, server, url)
                    n = f"{i + 1}/{args.presses}"
                    log(f"{kind} {n}: first sound {first:.3f} s, whole {whole:.1f} s")
                    firsts.append(first)
                    wholes.append(whole)
                results[kind] = {
                    "words": words,
                    "first_audio_s": summary(firsts),
                    "whole_article_s": summary(wholes),
                    "raw_first_audio_s": [round(v, 3) for v in firsts],
                }

            log("warm-up: one untimed press")
            press(browser, site, server, site.page("/warm.html", text(DEMO_WORDS, "warm"), svc))
            presses("demo", DEMO_WORDS)
            presses("long", args.long_words)
            for kind, words in (("demo", DEMO_WORDS), ("long", args.long_words)):
                times = [first_bytes(server, text(words, "api")) for _ in range(args.presses)]
                log(f"api {kind}: first {FIRST_BYTES // 1024} KB p50 {summary(times)['p50']} s")
                results[f"api_{kind}"] = {"words": words, "first_16kb_s": summary(times)}

            def bulk() -> None:
                for _ in range(args.bulk):
                    body = {"text": text(args.bulk_words, "bulk"), "priority": "bulk"}
                    status, reply = server.json("POST", "/api/v1/listen", body)
                    if status not in (200, 202):
                        raise RuntimeError(f"bulk POST: {status} {reply}")

            presses("busy", DEMO_WORDS, before=bulk)
            results["busy"]["bulk_articles_per_press"] = args.bulk
            results["busy"]["bulk_words"] = args.bulk_words
            browser.close()
    finally:
        site.close()
    return results


def report(results: dict[str, Any]) -> list[str]:
    print(f"{'scenario':<8} {'words':>6} {'first p50':>10} {'first p95':>10} {'whole p50':>10}")
    for kind in ("demo", "long", "busy"):
        r = results[kind]
        f, w = r["first_audio_s"], r["whole_article_s"]
        print(f"{kind:<8} {r['words']:>6} {f['p50']:>9.3f}s {f['p95']:>9.3f}s {w['p50']:>9.2f}s")
    for kind in ("demo", "long"):
        r = results[f"api_{kind}"]["first_16kb_s"]
        print(f"api {kind}: POST → first 16 KB p50 {r['p50']:.3f} s, p95 {r['p95']:.3f} s")
    verdicts = []
    for kind, (p50, p95) in TARGETS.items():
        got = results[kind]["first_audio_s"]
        ok = got["p50"] <= p50 and (p95 is None or got["p95"] <= p95)
        want = f"p50 ≤ {p50} s" + (f", p95 ≤ {p95} s" if p95 is not None else "")
        verdicts.append(
            f"{'PASS' if ok else 'MISS'} {kind}: {want} (p50 {got['p50']}, p95 {got['p95']})"
        )
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=10)
    parser.add_argument("--bulk", type=int, default=20)
    parser.add_argument("--bulk-words", type=int, default=BULK_WORDS)
    parser.add_argument("--long-words", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="listen-first-audio-"))
    started = utc_now()
    try:
        results = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    verdicts = report(results)
    for line in verdicts:
        print(line)
    out = {"started": started, "machine": machine_info(), "args": vars(args), **results}
    print(json.dumps(out, ensure_ascii=False))
    return 0 if all(v.startswith("PASS") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
