"""A site's webhook receiver for the tests: a real HTTP server on loopback, in a thread,
that answers each POST with the next status of a script and keeps what it was sent;
and ``documented_verify``, the verification recipe of docs/publishers.md, run as written."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOC = Path(__file__).parents[1] / "docs" / "publishers.md"


def documented_verify() -> Callable[[str, str, bytes], bool]:
    """``verify(secret, signature_header, body)`` from the Python block of
    docs/publishers.md that starts with ``# verify-webhook``."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("```python\n# verify-webhook")
    code = text[start + len("```python\n") : text.index("```", start + 10)]
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)
    verify: Callable[[str, str, bytes], bool] = scope["verify"]
    return verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    url: str
    script: list[int]
    """Statuses to answer, in order; the last one is repeated."""
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self) -> int:
        n = len(self.received)
        return self.script[min(n, len(self.script) - 1)]

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 60) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: done(self.received), timeout):
                raise AssertionError(f"the receiver got {len(self.received)} requests only")


def receiver(script: list[int]) -> Iterator[Receiver]:
    """Serve until the generator is closed (use with ``contextlib.contextmanager`` or as a
    fixture's body)."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.arrived:
                status = state.answer()
                state.received.append(Received(dict(self.headers.items()), body, status))
                state.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/listen", script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
