"""A site's secret key: who may edit its lexicon and use the publisher API for it.

``LISTEN_SITE_ADMIN_TOKENS`` holds, per site, the SHA-256 of each of its
secret keys (``listen-service site-secret SITE`` makes one); a request sends
the key as ``Authorization: Bearer <key>``. A site not in ``LISTEN_SITE_KEYS``
→ 404, no key → 401, a key not the site's → 403 (the JSON error shape). The
digest of what is sent is compared with each of the site's, in constant time.
"""

from __future__ import annotations

import hmac

from flask import current_app

from listen_service.config import secret_digest
from listen_service.errors import ApiError
from listen_service.ops.auth import bearer_token


def require_site_secret(site: str) -> None:
    if site not in current_app.config["LISTEN_SITE_KEYS"].values():
        raise ApiError(404, "unknown_site", "no site of this name is configured")
    given = secret_digest(bearer_token("missing_admin_token", "the site's secret key", "listen"))
    digests: dict[str, str] = current_app.config["LISTEN_SITE_ADMIN_TOKENS"]
    matched = False
    for digest, owner in digests.items():
        # Every digest of the site is compared, each in constant time.
        matched |= owner == site and hmac.compare_digest(digest.encode(), given.encode())
    if not matched:
        raise ApiError(403, "wrong_admin_token", "this key is not one of this site's secret keys")
