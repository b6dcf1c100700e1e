"""Schemathesis against ``/api/v1/openapi.json``: no generated request may get a 5xx, and
every answer must match the document (status, content type, headers, body schema).

In-process through WSGI, in both modes with no worker (jobs stay queued), with
a bounded number of examples per operation so that it runs in well under a minute.
Rate limits are off there: from one address they would turn most generated
requests into 429s, which would hide a 5xx; one test checks that a 429 matches
the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from listen_service import create_app
from listen_service.config import RATE_SETTINGS
from listen_service.openapi import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(service_config: dict[str, Any]) -> Flask:
    # Long polls of generated ids end at once (no such job); the cap keeps any
    # that find a queued job short.
    unlimited = dict.fromkeys(RATE_SETTINGS, "")
    app = create_app({**service_config, **unlimited, "LISTEN_WAIT_MAX_SECONDS": 0.5})
    # The document tested is the one served (built here without an app, since
    # schemathesis's fixture loader does not work with this pytest).
    assert app.test_client().get("/api/v1/openapi.json").get_json() == openapi_document()
    return app


schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(app: Flask, case: schemathesis.Case) -> None:
    checks = CHECKS
    if case.path == "/healthz":
        # No worker runs here, so /healthz's honest (and documented) answer is 503:
        # the document is still checked, the "no 5xx" rule cannot apply.
        checks = [c for c in CHECKS if c is not not_a_server_error]
    case.call_and_validate(app=app, checks=checks)


def test_a_rate_limited_answer_matches_the_document(tmp_path: Path) -> None:
    app = create_app(
        {"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_RATE_LIMIT_POST": "1/minute"}
    )
    case = schema["/api/v1/listen"]["POST"].Case(
        body={"text": "Over the limit."}, media_type="application/json"
    )
    assert case.call(app=app).status_code == 202
    response = case.call_and_validate(app=app, checks=CHECKS)
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"][0]) <= 61
