"""Cache keys: a pure function from synthesis inputs to a 64-hex SHA-256 name.

A key names the *result* of a synthesis, so it covers every input that can
change the bytes of the audio: the text, the voice and its settings, the output
format, and the version of the pipeline that produced it. The synthesis
pipeline owns ``pipeline_version`` and bumps it whenever its output changes, so
old entries simply stop being addressed and age out of the cache.

The digest is taken over a canonical encoding -- a schema tag, a newline, then
the fields as JSON with sorted keys and no insignificant whitespace -- so that
no two different sets of inputs can encode to the same bytes (JSON quotes and
escapes every string, unlike naive concatenation).

Like pip's HTTP cache, a key is split into nested directories
(``ab/cd/<key>``) so that no directory grows past a few thousand names.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

KEY_SCHEMA = "listen-key-v2"

_KEY_RE = re.compile(r"[0-9a-f]{64}")


def cache_key(
    *,
    text: str,
    voice: str,
    rate: int,
    pitch: int,
    volume: float,
    fmt: str,
    bitrate: str,
    pipeline_version: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Return the 64-character lowercase hex SHA-256 key for these inputs.

    The same inputs give the same key in every process and on every machine;
    changing any single field gives a different key. ``text`` is hashed exactly
    as given: normalising it (whitespace, Unicode form) is the pipeline's job.
    ``tags`` (title, artist…) are written into the file, so they are part of it.
    Raises ``ValueError`` for a non-finite ``volume``.
    """
    fields = {
        "text": text,
        "voice": voice,
        "rate": int(rate),
        "pitch": int(pitch),
        # float() so that volume=1 and volume=1.0 agree; "+ 0.0" folds -0.0 into 0.0.
        "volume": float(volume) + 0.0,
        "fmt": fmt,
        "bitrate": bitrate,
        "pipeline_version": pipeline_version,
        "tags": dict(tags or {}),
    }
    body = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    # surrogatepass: text decoded from JSON may hold lone surrogates; hash them
    # deterministically instead of failing.
    blob = f"{KEY_SCHEMA}\n{body}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()


def is_valid_key(s: str) -> bool:
    """True if ``s`` is exactly 64 lowercase hex characters (and so safe as a file name)."""
    return isinstance(s, str) and _KEY_RE.fullmatch(s) is not None


def key_path_parts(key: str) -> tuple[str, str, str]:
    """Split a key into nested path parts, ``("ab", "cd", "abcd...")``.

    Raises ``ValueError`` if ``key`` is not a valid key.
    """
    if not is_valid_key(key):
        raise ValueError(f"invalid cache key: {key!r}")
    return key[:2], key[2:4], key
