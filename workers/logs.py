"""Log lines an operator can follow: the job (and site) on every line about one.

Code that works on a job runs inside ``job_context(job_id, site)``; a
``JobFilter`` on each handler copies the context onto every record logged
meanwhile (``record.job_id``, ``record.site``; a line logged with
``extra={"job_id": ...}`` keeps its own). ``install(handlers, fmt)`` puts the
filter on handlers and sets their formatter: with ``fmt="json"`` one JSON
object per line (``JsonFormatter``), else the handler's own format with
`` [job=<id> site=<site>]`` appended to lines about a job.

Used by the web app (``init_app``) and by the Celery worker (its
``after_setup_logger`` signals, in ``workers.celery_app``). Imports neither
Flask nor Celery.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_current: ContextVar[tuple[str, str] | None] = ContextVar("listen_job", default=None)

# Attributes every LogRecord has: what is left over came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@contextlib.contextmanager
def job_context(job_id: str, site: str = "") -> Iterator[None]:
    """Lines logged inside (in this thread or task) are about ``job_id`` of ``site``."""
    token = _current.set((job_id, site))
    try:
        yield
    finally:
        _current.reset(token)


def current_job() -> tuple[str, str] | None:
    """The (job id, site) of the enclosing ``job_context``, if any."""
    return _current.get()


# Celery's own lines about a task (received, retry, raised) carry it in ``data``;
# a synthesis task's id is its job's id.
SYNTHESIS_TASK = "listen.synthesize"


def _celery_job(record: logging.LogRecord) -> str | None:
    data = getattr(record, "data", None)
    if isinstance(data, dict) and data.get("name") == SYNTHESIS_TASK:
        job_id = data.get("id")
        return job_id if isinstance(job_id, str) else None
    return None


class JobFilter(logging.Filter):
    """Adds ``job_id`` and ``site`` (None outside a job) to every record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if not hasattr(record, "job_id"):
            record.job_id = context[0] if context else _celery_job(record)
        if not hasattr(record, "site"):
            record.site = context[1] if context and context[1] else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process,
    job_id and site when about a job, ``extra=`` fields, and the traceback as ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and value is not None and name not in line:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The handler's own format, with `` [job=<id> site=<site>]`` on lines about a job."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter(logging.BASIC_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        job_id = getattr(record, "job_id", None)
        if not job_id:
            return text
        site = getattr(record, "site", None)
        tag = f" [job={job_id}" + (f" site={site}]" if site else "]")
        first, newline, rest = text.partition("\n")  # after the message, before a traceback
        return first + tag + newline + rest


def install(handlers: Iterable[logging.Handler], fmt: str) -> None:
    """Give each handler the job filter and the ``fmt`` ("text" or "json") formatter; idempotent."""
    for handler in handlers:
        if not any(isinstance(f, JobFilter) for f in handler.filters):
            handler.addFilter(JobFilter())
        current = handler.formatter
        if fmt == "json":
            if not isinstance(current, JsonFormatter):
                handler.setFormatter(JsonFormatter())
        elif not isinstance(current, TextFormatter):
            inner = None if isinstance(current, JsonFormatter) else current
            handler.setFormatter(TextFormatter(inner))


def configure(fmt: str) -> None:
    """Log lines of a process in ``fmt``: with "json", a root handler on stderr is added
    if there is none, so that every logger's lines (not only the app's) come as JSON.

    Call before anything creates its handlers on demand (Flask's ``app.logger``
    adds its own only when no handler is found up to the root)."""
    root = logging.getLogger()
    if fmt == "json" and not root.handlers:
        root.addHandler(logging.StreamHandler())
    install(root.handlers, fmt)
