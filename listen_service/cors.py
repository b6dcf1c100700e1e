"""Cross-origin access for the sites that embed the player, and nobody else.

Pages on ``LISTEN_ALLOWED_ORIGINS`` may call the API and fetch audio from
their own origin; any other origin gets no CORS headers (the browser then
refuses to hand it the response) and its preflights are refused.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from listen_service.errors import error_response

# Range: the player fetches the rest of a finished file in pieces (progressive playback).
ALLOWED_HEADERS = "Content-Type, X-Listen-Key, Range"
EXPOSED_HEADERS = "Location, ETag, Content-Range, Accept-Ranges, Content-Length, Retry-After"


def allowed_origin() -> str | None:
    origin = request.headers.get("Origin", "").rstrip("/")
    return origin if origin and origin in current_app.config["LISTEN_ALLOWED_ORIGINS"] else None


def init_app(app: Flask) -> None:
    @app.before_request
    def _preflight() -> Response | None:
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        if allowed_origin() is None:
            return error_response(403, "origin_not_allowed", "this origin may not use this server")
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.after_request
    def _headers(response: Response) -> Response:
        response.vary.add("Origin")
        origin = allowed_origin()
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
