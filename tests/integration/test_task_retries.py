"""The Celery task's retry accounting: waits behind another's lease are not failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from listen_service import create_app
from workers.engine import get_engine
from workers.jobs import FileJobStore
from workers.pipeline import Request, plan
from workers.tasks import failures_so_far, retry_countdown, synthesize_article


class DiskErrorStore(FileJobStore):
    """The real file store, whose ``start`` meets a transient disk error."""

    def start(self, job_id: str, worker: str) -> int:
        raise OSError(5, "Input/output error")


def test_busy_waits_do_not_count_as_failures() -> None:
    assert failures_so_far(retries=3, busy_waits=3) == 0
    assert retry_countdown(0, max_retries=3) == 2
    assert retry_countdown(3, max_retries=3) is None
    assert retry_countdown(10, max_retries=100) == 60


def test_a_job_that_waited_behind_a_lease_still_gets_its_retries(tmp_path: Path) -> None:
    # Run in-process (eager) only to drive Celery's own retry bookkeeping: the
    # message arrives after three waits behind another process's lease.
    app = create_app({"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_TASK_MAX_RETRIES": 2})
    store = DiskErrorStore(tmp_path)
    app.extensions["listen_jobs"] = store
    payload = {"text": "Retried, not given up on."}
    job_id = plan(Request(**payload), get_engine().voices()).key  # type: ignore[arg-type]
    assert store.accept(job_id, payload)
    with app.app_context():
        result = synthesize_article.apply(
            args=[job_id, payload], kwargs={"busy_waits": 3}, retries=3
        )
        with pytest.raises(OSError):
            result.get()
    job = store.get(job_id)
    assert job is not None and job.status == "failed"
    # Three attempts (the first and max_retries=2 retries), not one.
    assert job.error is not None and "gave up after 3 attempts" in job.error["message"]
