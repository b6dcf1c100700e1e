"""Listen's web side: ``create_app()`` builds the Flask app from layered settings."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app, configured from defaults ← ``LISTEN_*`` environment ← ``test_config``."""
    # Imported here so that the CLI's synth/voices/cache commands, which share
    # this package, do not pay for Flask and Celery at start-up.
    from flask import Flask

    from listen_service import config, cors, errors, instruments, security
    from listen_service.celery import celery_init_app
    from workers import logs
    from workers.jobs import open_store
    from workers.registry import open_registry

    app = Flask(__name__)
    app.config.update(config.load(test_config))
    logs.configure(app.config["LISTEN_LOG_FORMAT"])
    logs.install(app.logger.handlers, app.config["LISTEN_LOG_FORMAT"])
    app.config["MAX_CONTENT_LENGTH"] = app.config["LISTEN_MAX_BODY_BYTES"]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["listen_cache"] = config.open_cache(app.config)
    app.extensions["listen_jobs"] = open_store(
        app.config["LISTEN_REDIS_URL"],
        app.config["LISTEN_DATA_DIR"],
        record_s=app.config["LISTEN_JOB_RECORD_SECONDS"],
        stale_s=app.config["LISTEN_STALE_SECONDS"],
    )
    instruments.init_app(app)  # first: it times and counts every request
    # Worker processes' heartbeats, beside the job records (workers/registry.py).
    app.extensions["listen_workers"] = open_registry(
        app.config["LISTEN_REDIS_URL"], app.config["LISTEN_DATA_DIR"]
    )
    errors.init_app(app)
    cors.init_app(app)
    security.init_app(app)
    celery_init_app(app)

    from listen_service import analytics, api, audio, lexicons, limits, ops, player, publishers

    app.register_blueprint(api.bp)
    lexicons.init_app(app)
    publishers.init_app(app)
    analytics.init_app(app)
    app.register_blueprint(audio.bp)
    app.register_blueprint(ops.bp)
    app.extensions["listen_live_workers"] = partial(ops.health.live_workers, app)
    app.register_blueprint(player.bp)
    limits.init_app(app)
    return app
