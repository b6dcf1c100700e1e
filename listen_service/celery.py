"""Celery wired as in Flask's own pattern: one factory, tasks run in an app context.

Two brokers, one code base. With no ``LISTEN_BROKER_URL`` the broker is
kombu's filesystem transport under the data directory, hardened in
``listen_service.fsbroker`` (the embedded default: no server to run); with
``redis://…`` Redis carries the queue. Results are not kept by Celery: job
state lives in the job store (``workers.jobs``), which both sides read.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from celery import Celery, Task
from flask import Flask

from listen_service.brokers import FolderBroker, OpaqueBroker, RedisBroker
from listen_service.config import embedded
from listen_service.fsbroker import TRANSPORT, broker_dir, transport_options
from listen_service.lanes import INTERACTIVE, QUEUES, queue_of
from workers.jobs import redis_client
from workers.redrive import Broker

SYNTHESIZE = "listen.synthesize"


def celery_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery's configuration for this deployment."""
    settings: dict[str, Any] = {
        "task_default_queue": INTERACTIVE,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        # A task is acknowledged only once it is done, and put back when its
        # process dies; one task at a time per process so none waits behind
        # a long article in a busy worker.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": config["LISTEN_TASK_SOFT_TIME_LIMIT"],
        "task_time_limit": config["LISTEN_TASK_TIME_LIMIT"],
        # Fail a publish fast so the API can answer 503 instead of hanging.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "include": ["workers.tasks"],
    }
    if embedded(config):
        settings |= {
            "broker_url": "filesystem://",
            # Our subclass of kombu's filesystem transport: atomic writes,
            # unreadable messages quarantined instead of fatal.
            "broker_transport": TRANSPORT,
            "broker_transport_options": {
                **transport_options(config["LISTEN_DATA_DIR"]),
                # Latency of a new job is up to one polling interval.
                "polling_interval": 0.05,
            },
            # Remote control and events need a fan-out exchange; the
            # embedded broker has no use for them (no Flower without Redis).
            "worker_enable_remote_control": False,
            "worker_send_task_events": False,
        }
    else:
        settings |= {
            "broker_url": config["LISTEN_BROKER_URL"],
            "broker_transport_options": {
                # Unacknowledged tasks come back after this long; longer than
                # any task may run.
                "visibility_timeout": int(config["LISTEN_TASK_TIME_LIMIT"]) + 60,
                # A worker of both lanes takes the interactive one first: BRPOP
                # is given the queues sorted, and "listen" < "listen.bulk".
                # ("priority" would keep the order of the queues as consumed,
                # but kombu keeps them in a set.)
                "queue_order_strategy": "sorted",
            },
            # Task events feed Flower; "sent" events are left off because
            # they double the publishes on the API's hot path.
            "worker_send_task_events": True,
        }
    return settings


def send_synthesis(celery: Celery, job_id: str, payload: Mapping[str, Any]) -> None:
    """Publish the job's task in its lane (``lanes.queue_of``). Its task id is the
    job id, so the broker can be asked whether a job's message is still waiting
    (``workers.redrive``) and where (``lanes.queue_info``)."""
    celery.send_task(
        SYNTHESIZE, args=[job_id, dict(payload)], task_id=job_id, queue=queue_of(payload)
    )


def broker_of(config: Mapping[str, Any]) -> Broker:
    """This deployment's broker, as re-driving lost jobs looks into it."""
    if embedded(config):
        return FolderBroker(broker_dir(config["LISTEN_DATA_DIR"]), QUEUES)
    url: str = config["LISTEN_BROKER_URL"]
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(redis_client(url), QUEUES)
    return OpaqueBroker()


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_settings(app.config))
    celery.set_default()
    app.extensions["celery"] = celery
    app.extensions["listen_broker"] = broker_of(app.config)
    # For the workers' sweep, which must not import the web side.
    app.extensions["listen_enqueue"] = partial(send_synthesis, celery)
    return celery
