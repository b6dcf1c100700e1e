"""One JSON error shape for every response: ``{"error": {"code", "message"}}``.

``ApiError`` is raised by views; the synthesis core's ``ListenError`` tree is
mapped to HTTP here and only here; werkzeug's own HTTP errors (404, 405, …)
get the same shape; anything unexpected is a logged ``500`` that reveals
nothing of the server.
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


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def status_for(exc: ListenError) -> int:
    if isinstance(exc, TextTooLong):
        return 413
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, ConfigError):
        return 500
    return 503


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(ListenError)
    def _listen(exc: ListenError) -> Response:
        status = status_for(exc)
        if status >= 500:
            app.logger.error("synthesis core error: %s", exc)
        return error_response(status, exc.code, str(exc))

    @app.errorhandler(RedisError)
    @app.errorhandler(OperationalError)
    def _unreachable(exc: Exception) -> Response:
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
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "the server failed; the error was logged")
