"""One JSON error shape for every response: ``{"error": {"code", "message"}}``.

``ApiError`` is raised by views; the synthesis core's ``ListenError`` tree is
mapped to HTTP here and only here; werkzeug's own HTTP errors (404, 405, …)
get the same shape; a full disk (``ENOSPC`` anywhere in an exception's chain)
is ``507`` with ``Retry-After``; anything unexpected is a logged ``500`` that
reveals nothing of the server.

A failed job's error is shown to clients through ``public_job_error``: its
stable code with a fixed message, never the recorded detail (which may name
server paths or ffmpeg's output and stays in the job record and the logs).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from workers.errors import (
    ConfigError,
    InputError,
    ListenError,
    TextTooLong,
    disk_full,
)


class ApiError(Exception):
    """An error response: HTTP status, stable code, human message, extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# Codes a job record may carry → what a client is told. Unknown codes (such as
# those of records written by older versions) get GENERIC_JOB_ERROR; a test
# keeps this list equal to the codes the source can record.
JOB_ERROR_MESSAGES = {
    "listen_error": "the audio could not be made; post the article again to retry",
    "invalid_input": "the article or its settings cannot be turned into audio",
    "empty_text": "the speech engine found nothing to say in this text",
    "text_too_long": "the text is longer than this server accepts",
    "unknown_voice": "no installed voice matches the voice or language asked for",
    "engine_unavailable": "the voice asked for needs a speech engine this server does not have",
    "invalid_setting": "a setting (rate, pitch, volume, format or bitrate) is out of range",
    "invalid_lexicon": "an entry of the site's pronunciation lexicon cannot be used",
    "malformed_pls": "the pronunciation lexicon is not a well-formed PLS document",
    "config_error": "the server is misconfigured; its operator has the details",
    "synthesis_failed": "the audio could not be made; post the article again to retry",
    "engine_failed": "the speech engine failed; post the article again to retry",
    "engine_timeout": "the speech engine hung on this text",
    "voice_unusable": "the voice's model could not be loaded; its operator has the details",
    "encoder_failed": "the audio encoder failed; post the article again to retry",
    "internal_error": "the server failed; post the article again to retry",
    "too_many_attempts": "the job was started several times without finishing; post the "
    "article again",
    "broker_unavailable": "the job queue was unreachable; post the article again",
    "insufficient_storage": "the server ran out of disk space; post the article again later",
    "cancelled": "the service's operator cancelled this job; post the article again",
}
GENERIC_JOB_ERROR = "the audio could not be made; post the article again to retry"
RETRY_AFTER_DISK_FULL = "60"


def public_job_error(error: dict[str, str]) -> dict[str, str]:
    """A recorded job error as clients may see it: its code and a fixed message."""
    code = str(error.get("code") or "internal_error")
    return {"code": code, "message": JOB_ERROR_MESSAGES.get(code, GENERIC_JOB_ERROR)}


def insufficient_storage() -> ApiError:
    """The ``507`` for a disk too full to take a new job."""
    return ApiError(
        507,
        "insufficient_storage",
        "the server is out of disk space; try again later",
        {"Retry-After": RETRY_AFTER_DISK_FULL},
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def status_for(exc: ListenError) -> int:
    if disk_full(exc):
        return 507
    if isinstance(exc, TextTooLong):
        return 413
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, ConfigError):
        return 500
    return 503


def init_app(app: Flask) -> None:
    def _out_of_space(exc: BaseException) -> Response:
        app.logger.error("out of disk space: %s", exc)
        full = insufficient_storage()
        return error_response(full.status, full.code, full.message, full.headers)

    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(ListenError)
    def _listen(exc: ListenError) -> Response:
        status = status_for(exc)
        if status == 507:
            return _out_of_space(exc)
        if status < 500:
            return error_response(status, exc.code, str(exc))
        # The detail may name server paths (a missing ffmpeg, a data directory).
        app.logger.error("synthesis core error: %s", exc)
        message = JOB_ERROR_MESSAGES.get(exc.code, GENERIC_JOB_ERROR)
        return error_response(status, exc.code, message)

    @app.errorhandler(RedisError)
    @app.errorhandler(OperationalError)
    def _unreachable(exc: Exception) -> Response:
        if disk_full(exc):  # the embedded broker writes to the data directory
            return _out_of_space(exc)
        # The job store (Redis) or the broker is down: the client may retry.
        app.logger.error("backing service unreachable: %s", exc)
        return error_response(
            503,
            "service_unavailable",
            "the job queue or job store is unreachable; try again shortly",
            {"Retry-After": "5"},
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if disk_full(exc):
            return _out_of_space(exc)
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "the server failed; the error was logged")
