"""The console's login and the CSRF tokens of its buttons.

An operator types ``LISTEN_OPS_TOKEN`` once at ``/ops/login``; the answer sets
the cookie ``listen_ops``: a random value signed with the token by
``itsdangerous`` (Flask's own signing library), with its time, valid for
``LISTEN_OPS_SESSION_SECONDS``. Changing the token ends every session. The
cookie is ``HttpOnly``, ``SameSite=Strict`` and limited to ``/ops``.

A button (a form ``POST``) must also carry ``csrf``: an HMAC of the session
value under the token, which a page of another origin cannot read. A request
with ``Authorization: Bearer`` instead of the cookie (a script, ``curl``)
needs no CSRF token: a browser never adds that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from flask import current_app, request
from itsdangerous import BadSignature, TimestampSigner
from werkzeug.wrappers import Response

from listen_service.errors import ApiError
from listen_service.ops.auth import enabled, require_operator

COOKIE = "listen_ops"
PATH = "/ops"
How = Literal["cookie", "bearer"]


def _token() -> bytes:
    token: str = current_app.config["LISTEN_OPS_TOKEN"]
    return token.encode("utf-8")


def _signer() -> TimestampSigner:
    return TimestampSigner(_token(), salt="listen-ops-console")


def _max_age() -> int:
    return int(current_app.config["LISTEN_OPS_SESSION_SECONDS"])


def start(response: Response) -> None:
    """Log the browser of ``response`` in: set a fresh session cookie."""
    value = _signer().sign(secrets.token_urlsafe(24)).decode("ascii")
    response.set_cookie(
        COOKIE,
        value,
        max_age=_max_age(),
        path=PATH,
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, secure=request.is_secure, httponly=True)


def _session() -> str | None:
    """This request's session value if its cookie is genuine and young enough."""
    value = request.cookies.get(COOKIE)
    if not value or not enabled():
        return None
    try:
        _signer().unsign(value, max_age=_max_age())
    except BadSignature:  # forged, from an earlier token, or expired
        return None
    return value


def operator() -> How:
    """How this request proves it is the operator's; ``ApiError`` as ``require_operator``
    (404 console off, 401 no credentials, 403 wrong token) otherwise."""
    if _session() is not None:
        return "cookie"
    if not enabled() or request.headers.get("Authorization"):
        require_operator()
        return "bearer"
    raise ApiError(
        401,
        "missing_ops_token",
        f"log in at {PATH}/login, or send the operator token as Authorization: Bearer <token>",
        {"WWW-Authenticate": 'Bearer realm="listen-ops"'},
    )


def csrf_token() -> str:
    """The value this session's forms carry as ``csrf`` ("" without a session)."""
    value = _session()
    if value is None:
        return ""
    return hmac.new(_token(), b"csrf:" + value.encode("ascii"), hashlib.sha256).hexdigest()


def require_csrf(how: How) -> None:
    """A 403 ``csrf_failed`` unless a cookie-borne request sent its session's token."""
    if how == "bearer":
        return
    expected = csrf_token()
    sent = request.form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode("utf-8")):
        raise ApiError(
            403, "csrf_failed", "this form is not from the console's page; reload /ops and retry"
        )
