"""Schemathesis against ``/api/v1/openapi.json``: no generated request may get a 5xx, and
every answer must match the document (status, content type, headers, body schema).

In-process through WSGI, embedded mode with no worker (jobs stay queued), with
a bounded number of examples per operation so that it runs in well under a minute.
"""

from __future__ import annotations

from pathlib import Path

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
from listen_service.openapi import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    # Long polls of generated ids end at once (no such job); the cap keeps any
    # that find a queued job short.
    app = create_app({"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_WAIT_MAX_SECONDS": 0.5})
    # The document tested is the one served (built here without an app, since
    # schemathesis's fixture loader does not work with this pytest).
    assert app.test_client().get("/api/v1/openapi.json").get_json() == openapi_document()
    return app


schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(app: Flask, case: schemathesis.Case) -> None:
    case.call_and_validate(app=app, checks=CHECKS)
