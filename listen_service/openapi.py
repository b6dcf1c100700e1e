"""The OpenAPI 3 description of the HTTP API (a test keeps it in step with the routes).

The request schema states what ``validation`` enforces — lengths, ranges,
control characters — from the same constants and settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from listen_service import analytics, lexicons, publishers
from listen_service.lanes import DEFAULT_PRIORITY, PRIORITIES
from listen_service.ops import console
from listen_service.validation import FORBIDDEN_PATTERN, MAX_LENGTHS, PAGE_SOURCES
from listen_service.webhooks import routes as webhook_routes

DEFAULT_MAX_CHARS = 100_000

ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"$ref": "#/components/schemas/Id"},
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": "#/components/responses/Error"} for s in statuses}


def _allowed(kind: str) -> str:
    """A pattern matching strings free of the characters ``validation`` refuses."""
    return "^" + FORBIDDEN_PATTERN[kind].replace("[", "[^", 1) + "*$"


def _objects(properties: dict[str, Any]) -> dict[str, Any]:
    """An array of objects with these properties."""
    return {"type": "array", "items": {"type": "object", "properties": properties}}


def _short(name: str, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "maxLength": MAX_LENGTHS[name],
        "pattern": _allowed("other"),
    }
    if description:
        schema["description"] = description
    return schema


_WORKER_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "node": {"type": "string"},
    "host": {"type": "string"},
    "pid": {"type": "integer"},
    "concurrency": {"type": "integer"},
    "lanes": {"type": "array", "items": {"type": "string"}},
    "job": {"type": "string", "nullable": True},
    "job_since": {"type": "number", "nullable": True},
    "started": {"type": "number"},
    "heartbeat": {"type": "number"},
    "heartbeat_age_s": {"type": "number"},
    "alive": {"type": "boolean"},
}
WORKERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["workers"],
    "properties": {
        "workers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": list(_WORKER_FIELDS),
                "properties": _WORKER_FIELDS,
            },
        }
    },
}
"""``GET /api/v1/ops/workers``'s answer (``listen_service.ops.workers``)."""


def openapi_document(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document for a service with these settings (defaults when None)."""
    max_chars = (config or {}).get("LISTEN_MAX_CHARS", DEFAULT_MAX_CHARS)
    audio_params = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"$ref": "#/components/schemas/Id"},
        },
        {"name": "ext", "in": "path", "required": True, "schema": {"enum": ["mp3", "ogg", "wav"]}},
        {
            "name": "download",
            "in": "query",
            "schema": {"enum": ["0", "1"]},
            "description": "1: Content-Disposition: attachment, the file named after the audio's title (else listen-<first 12 of id>)",
        },
    ]
    audio_responses = {
        "200": {
            "description": "the whole file; while its job is working (mp3, ogg), the audio made so far and then the rest as it is made (chunked, no Content-Length, Cache-Control: no-store)",
            "content": {"audio/*": {}},
        },
        "206": {"description": "the requested byte range", "content": {"audio/*": {}}},
        "304": {"description": "not modified (If-None-Match / If-Modified-Since)"},
        **_errors(404, 416, 422, 503),
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Listen",
            "version": "1",
            "description": "Self-hosted 'listen to this article': text in, audio with sentence timings out.",
        },
        "paths": {
            "/api/v1/listen": {
                "post": {
                    "summary": "Ask for an article's audio",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ListenRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("Job", "already synthesised: status ready"),
                        "202": {
                            **_json("Job", "accepted: status queued or working"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        **_errors(400, 401, 403, 413, 415, 422, 429, 503, 507),
                    },
                }
            },
            "/api/v1/jobs/{job_id}": {
                "get": {
                    "summary": "A job's status; ?wait=S long-polls up to S seconds for a change",
                    "parameters": [
                        ID,
                        {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0}},
                    ],
                    "responses": {"200": _json("Job", "the job"), **_errors(404, 422, 429, 503)},
                }
            },
            "/api/v1/jobs/{job_id}/events": {
                "get": {
                    "summary": "Server-Sent Events until ready or failed: a 'status' event (a Job without its timings) per change, each preceded by a 'timings' event with the sentences made since",
                    "parameters": [ID],
                    "responses": {
                        "200": {
                            "description": "event stream",
                            "content": {"text/event-stream": {}},
                        },
                        **_errors(404, 429, 503),
                    },
                }
            },
            "/api/v1/voices": {
                "get": {
                    "summary": "Installed voices",
                    "responses": {"200": _json("Voices", "the voices"), **_errors(503)},
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3"}},
                }
            },
            "/audio/{id}.{ext}": {
                "get": {
                    "summary": "The audio (byte ranges, ETag, conditional requests)",
                    "parameters": audio_params,
                    "responses": audio_responses,
                },
                "head": {
                    "summary": "The audio's headers",
                    "parameters": audio_params,
                    "responses": audio_responses,
                },
            },
            "/audio/{id}.json": {
                "get": {
                    "summary": "Timings and metadata of an audio file",
                    "parameters": audio_params[:1],
                    "responses": {"200": _json("Timings", "timings"), **_errors(404)},
                }
            },
            "/player.js": {
                "get": {
                    "summary": "The embeddable player: defines <listen-button> (see the README)",
                    "responses": {
                        "200": {"description": "the script", "content": {"text/javascript": {}}},
                        "304": {"description": "not modified (If-None-Match)"},
                    },
                }
            },
            "/embed/{job_id}": {
                "get": {
                    "summary": "A one-player page for an iframe; framable by LISTEN_ALLOWED_ORIGINS",
                    "parameters": [ID],
                    "responses": {
                        "200": {"description": "the page", "content": {"text/html": {}}},
                        **_errors(404),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health: queue depth, job counts, cache size, live workers, recent failures",
                    "responses": {
                        "200": {"description": "healthy"},
                        "503": {
                            "description": "broker or job store unreachable, the data directory's disk below LISTEN_MIN_FREE_BYTES, no worker heartbeat for LISTEN_WORKER_STALE_SECONDS, or most recent jobs failed"
                        },
                    },
                }
            },
            "/livez": {
                "get": {
                    "summary": "Liveness of this web process (reads nothing else)",
                    "responses": {"200": {"description": "it answers"}},
                }
            },
            "/api/v1/ops/workers": {
                "get": {
                    "summary": "Worker processes alive, and lately gone (operator token)",
                    "security": [{"opsToken": []}],
                    "responses": {
                        "200": {
                            "description": "alive first, then stale ones",
                            "content": {"application/json": {"schema": WORKERS_SCHEMA}},
                        },
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text format"}},
                }
            },
            # The operator's jobs (listen_service.ops.jobs); Authorization: Bearer LISTEN_OPS_TOKEN.
            "/api/v1/ops/jobs": {
                "get": {
                    "summary": "Operator: jobs newest first, with title, site, characters, age, attempts, times and error",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"enum": ["queued", "working", "ready", "failed"]},
                        },
                        {"name": "site", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": {"description": "{jobs: [...], count}"},
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/api/v1/ops/jobs/{job_id}/retry": {
                "post": {
                    "summary": "Operator: accept a failed job again from its stored request",
                    "parameters": [ID],
                    "responses": {
                        "202": {"description": "{job}: queued again"},
                        **_errors(401, 403, 404, 409, 429, 503, 507),
                    },
                }
            },
            "/api/v1/ops/jobs/{job_id}/cancel": {
                "post": {
                    "summary": "Operator: cancel a queued job, or stop a working one within a second",
                    "parameters": [ID],
                    "responses": {
                        "200": {"description": "{job}: failed with code cancelled"},
                        "202": {"description": "{job}: its worker stops at its next heartbeat"},
                        **_errors(401, 403, 404, 409, 503),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "ListenRequest": {
                    "type": "object",
                    "description": "exactly one of text, html and url (else 422 invalid_field)",
                    "oneOf": [{"required": [source]} for source in ("text", *PAGE_SOURCES)],
                    "additionalProperties": False,
                    "properties": {
                        "text": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": max_chars,
                            "pattern": _allowed("text"),
                            "description": "the article; must hold something speakable (else 422 empty_text)",
                        },
                        "html": {
                            "type": "string",
                            "minLength": 1,
                            "description": "instead of text: an HTML page whose article (title, headings, paragraphs) is read; its title is read first and becomes the title, unless the request gives one (then that is read); no article found → 422 no_article",
                        },
                        "url": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_LENGTHS["url"],
                            "pattern": _allowed("other"),
                            "description": "instead of text: an http(s) page the server fetches (within LISTEN_FETCH_TIMEOUT_SECONDS and LISTEN_FETCH_MAX_BYTES, never from private or loopback addresses unless LISTEN_FETCH_ALLOW_PRIVATE) and reads as html; 422 url_not_allowed, url_unreachable, fetch_failed, fetch_timeout, not_html or no_article, 413 page_too_large",
                        },
                        "title": _short("title"),
                        "site": _short(
                            "site",
                            "artist tag of the audio; with site keys configured it must be left out or equal the key's site",
                        ),
                        "voice": _short(
                            "voice",
                            "voice id or name, see /api/v1/voices (piper:NAME: a neural voice; "
                            "422 engine_unavailable where Piper is not installed)",
                        ),
                        "lang": _short("lang", "language code, when no voice is given"),
                        "rate": {"type": "integer", "minimum": 80, "maximum": 450, "default": 175},
                        "pitch": {"type": "integer", "minimum": 0, "maximum": 99, "default": 50},
                        "volume": {
                            "type": "number",
                            "minimum": 0.1,
                            "maximum": 1.0,
                            "default": 1.0,
                        },
                        "format": {"enum": ["mp3", "ogg", "wav"], "default": "mp3"},
                        "bitrate": {
                            "type": "integer",
                            "minimum": 12,
                            "maximum": 320,
                            "default": 64,
                            "description": "kbit/s: mp3 one of 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320; ogg 12-256; ignored for wav",
                        },
                        "priority": {
                            "enum": list(PRIORITIES),
                            "default": DEFAULT_PRIORITY,
                            "description": "the job's lane: 'interactive' for a reader waiting (the embedded player sends it), 'bulk' for pre-generation; a reader's request moves a waiting bulk job to the interactive lane",
                        },
                    },
                },
                "Job": {
                    "type": "object",
                    "description": "a failed job has no audio_url, timings_url, embed_url or embed_html: nothing was made",
                    "required": ["id", "status", "progress", "status_url"],
                    "properties": {
                        "id": {"$ref": "#/components/schemas/Id"},
                        "status": {"enum": ["queued", "working", "ready", "failed"]},
                        "progress": {"type": "number", "minimum": 0, "maximum": 1},
                        "duration_s": {"type": "number"},
                        "status_url": {"type": "string"},
                        "audio_url": {"type": "string", "description": "not when failed"},
                        "timings_url": {"type": "string", "description": "not when failed"},
                        "embed_url": {
                            "type": "string",
                            "description": "the /embed page (not when failed)",
                        },
                        "embed_html": {
                            "type": "string",
                            "description": "an iframe snippet (not when failed)",
                        },
                        # A failed job's: a stable code and a fixed message
                        # (errors.JOB_ERROR_MESSAGES), never the recorded detail.
                        "error": {"$ref": "#/components/schemas/ErrorBody"},
                        "events_url": {
                            "type": "string",
                            "description": "where the player reports listening (POST /api/v1/listen, when the site's analytics are on)",
                        },
                        "first_audio_s": {"type": "number", "minimum": 0, "nullable": True},
                        "made_ms": {"type": "integer", "minimum": 0},
                        "timings": {"type": "array", "items": {"type": "object"}},
                        "queue": {
                            "type": "object",
                            "description": "while queued: the job's lane and how many jobs are ahead of it there (0: next; null when it cannot be known)",
                            "required": ["lane", "position"],
                            "properties": {
                                "lane": {"enum": ["interactive", "bulk"]},
                                "position": {"type": "integer", "minimum": 0, "nullable": True},
                            },
                        },
                    },
                },
                "Voices": {
                    "type": "object",
                    "properties": {
                        "voices": _objects(
                            {
                                "id": {"type": "string"},
                                "name": {"type": "string"},
                                "languages": {"type": "array", "items": {"type": "string"}},
                                "gender": {"type": "string", "nullable": True},
                                "engine": {"type": "string", "enum": ["espeak-ng", "piper"]},
                                "licence": {
                                    "type": "string",
                                    "nullable": True,
                                    "description": "a neural voice's own licence, as its "
                                    "files state it (check it before commercial use)",
                                },
                            }
                        ),
                        "engines": _objects(
                            {
                                "name": {"type": "string"},
                                "available": {"type": "boolean"},
                                "licence": {"type": "string"},
                                "reason": {"type": "string", "description": "why not available"},
                                "voices": {"type": "integer"},
                            }
                        ),
                    },
                },
                "Timings": {
                    "type": "object",
                    "properties": {
                        "id": {"$ref": "#/components/schemas/Id"},
                        "duration_s": {"type": "number"},
                        "timings": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    **{
                                        k: {"type": "integer"}
                                        for k in (
                                            "index",
                                            "paragraph",
                                            "start_ms",
                                            "end_ms",
                                            "char_start",
                                            "char_end",
                                        )
                                    },
                                    "words": {
                                        "type": "array",
                                        "description": "each word of the sentence as written,"
                                        " with when it is said (absent where the engine gave"
                                        " no word marks)",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                k: {"type": "integer"}
                                                for k in (
                                                    "start_ms",
                                                    "end_ms",
                                                    "char_start",
                                                    "char_end",
                                                )
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "ErrorBody": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
                },
            },
            "responses": {"Error": _json("Error", "an error, in the one JSON error shape")},
        },
    }
    lexicon_path, lexicon_schemas = lexicons.openapi_parts()
    doc["paths"]["/api/v1/sites/{site}/lexicon"] = lexicon_path
    doc["components"]["schemas"].update(lexicon_schemas)
    doc["paths"].update(console.openapi_paths())
    doc["paths"].update(publishers.openapi_paths())
    doc["paths"].update(webhook_routes.openapi_paths())
    doc["paths"].update(analytics.openapi_paths())
    doc["components"]["securitySchemes"] = {
        "siteAdminToken": {"type": "http", "scheme": "bearer"},
        "opsToken": {"type": "http", "scheme": "bearer", "description": "LISTEN_OPS_TOKEN"},
        "opsSession": {
            "type": "apiKey",
            "in": "cookie",
            "name": "listen_ops",
            "description": "the console's login (POST /ops/login)",
        },
    }
    # Validation skips an optional field sent as null, as if it were left out.
    for name, prop in doc["components"]["schemas"]["ListenRequest"]["properties"].items():
        if name not in ("text", *PAGE_SOURCES):
            prop["nullable"] = True
    return doc
