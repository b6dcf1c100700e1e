"""The worker's target: ``celery -A workers.celery_app worker``."""

import faulthandler
import logging
from pathlib import Path
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    worker_process_init,
)

from listen_service import config, create_app, metricsdir
from listen_service.webhooks import deliver as webhooks
from workers import logs, neural
from workers.languages import warm_up
from workers.sweeper import install

# --- metrics: this worker's multiprocess directory, claimed before
# prometheus_client is imported (create_app, workers.metrics import it) ---
metricsdir.claim(config.load(), "worker")
from workers import metrics as worker_metrics  # noqa: E402

# --- end metrics ---

# A crash in native code (espeak-ng, a C extension) prints every thread's
# Python stack to the worker's log before the process dies; the pool
# processes inherit the handler.
faulthandler.enable()

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
install(flask_app)
webhooks.install(flask_app)  # sends the webhook events
worker_metrics.install(flask_app)  # metrics: Celery task signals, the worker's own port


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _share_cores(instance: Any, **_: Any) -> None:
    # In the main process, before the pool forks: each pool process's Piper
    # sessions get its share of the cores (workers.neural.threads), the voices'
    # aligned copies (for word timings) are kept beside the audio, and the
    # operator's memory and GPU settings apply.
    settings = flask_app.config
    neural.configure(
        neural.Setup(
            concurrency=int(instance.concurrency),
            aligned_dir=Path(settings["LISTEN_DATA_DIR"]) / "voices-aligned",
            mmap_bytes=settings["LISTEN_PIPER_MMAP_BYTES"],
            cuda=settings["LISTEN_PIPER_CUDA"],
        )
    )


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_language_detector(**_: Any) -> None:
    # In each pool process, after the fork: half a second here rather than
    # before the first sound of the first article that needs it.
    warm_up()


# --- Worker heartbeats (workers/heartbeat.py): /healthz, /api/v1/ops/workers ---
from workers.heartbeat import install as install_heartbeats  # noqa: E402

install_heartbeats(flask_app)


# --- Job ids and LISTEN_LOG_FORMAT on the worker's log lines (workers.logs) ---
# Celery sets its handlers up after importing this module (worker_hijack_root_logger
# is off, so it adds them only where there are none); these signals follow, in
# the main process before the pool forks, so every pool process inherits them.
@after_setup_logger.connect  # type: ignore[untyped-decorator]
@after_setup_task_logger.connect  # type: ignore[untyped-decorator]
def _job_log_lines(logger: logging.Logger, **_: Any) -> None:
    handlers = [*logger.handlers, *logging.getLogger().handlers]
    logs.install(handlers, flask_app.config["LISTEN_LOG_FORMAT"])
