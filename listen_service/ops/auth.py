"""Who may use the operator's API and console: whoever holds ``LISTEN_OPS_TOKEN``.

Without the setting, everything under ``/api/v1/ops`` (and ``/ops``) is
disabled: 404, never open. With it, a request sends
``Authorization: Bearer <token>``: none → 401, a wrong one → 403, both in the
one JSON error shape. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import current_app, request

from listen_service.errors import ApiError

P = ParamSpec("P")
R = TypeVar("R")
MIN_TOKEN_CHARS = 16


def enabled() -> bool:
    return bool(current_app.config["LISTEN_OPS_TOKEN"])


def check_token(sent: str) -> bool:
    """Whether ``sent`` is the operator token (False while none is configured)."""
    token: str = current_app.config["LISTEN_OPS_TOKEN"]
    return bool(token) and hmac.compare_digest(token.encode("utf-8"), sent.encode("utf-8"))


def require_operator() -> None:
    """Raise the ``ApiError`` this request gets unless it carries the operator token."""
    if not enabled():
        raise ApiError(404, "ops_disabled", "the operator API is off: set LISTEN_OPS_TOKEN")
    sent = bearer_token("missing_ops_token", "the operator token", "listen-ops")
    if not check_token(sent):
        raise ApiError(403, "wrong_ops_token", "this is not the operator token")


def bearer_token(code: str, what: str, realm: str) -> str:
    """The token of ``Authorization: Bearer <token>``; a 401 ``code`` naming ``what`` if none."""
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise ApiError(
            401,
            code,
            f"send {what} as Authorization: Bearer <token>",
            {"WWW-Authenticate": f'Bearer realm="{realm}"'},
        )
    return sent.strip()


def operator_only(view: Callable[P, R]) -> Callable[P, R]:
    """A view only the operator may call (``require_operator`` first)."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        require_operator()
        return view(*args, **kwargs)

    return guarded
