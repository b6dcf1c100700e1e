"""Signing a delivery, and when to try it again: pure functions.

``X-Listen-Signature: t=<unix seconds>,v1=<hex>`` where the hex is
HMAC-SHA256, keyed with the webhook's signing secret, of ``"<t>."`` followed
by the exact body bytes. ``t`` is the time of this attempt, so a receiver
can refuse a signature older than five minutes (a replayed request) while
every retry of a delivery still verifies: docs/publishers.md has the
receiver's recipe, which the tests run as written there.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

BACKOFF_CAP_S = 3600.0


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, t: int) -> str:
    """The ``X-Listen-Signature`` value for ``body`` sent at unix time ``t``."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def retry_delay(attempts_made: int, first_s: float) -> float:
    """Seconds to wait after the ``attempts_made``-th failed attempt: ``first_s``,
    doubling each time, at most ``BACKOFF_CAP_S``."""
    return float(min(first_s * 2 ** (attempts_made - 1), BACKOFF_CAP_S))
