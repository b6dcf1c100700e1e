"""What a saved audio file is called: ``Content-Disposition`` for ``/audio/<id>.<fmt>?download=1``.

A reader who presses the player's download button must get a file named after
the article, and stay on the article: the player is on another origin, where
browsers ignore the ``download`` attribute of a link and would navigate to the
audio instead. ``Content-Disposition: attachment`` makes any browser save it.

The header carries two names (RFC 6266): ``filename``, an ASCII slug for old
clients ("harbour-ferries-at-dusk.mp3"), and ``filename*``, the title itself
in UTF-8 ("Harbour ferries at dusk — a photo essay.mp3"), which every current
browser prefers. Both are freed of what file systems refuse (path separators,
``:*?"<>|``, control and format characters, leading and trailing dots and
spaces) and kept short; a title with nothing left is ``listen-<first 12 of id>``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import quote

# File systems allow 255 bytes a name; this leaves room for the extension
# and for the " (1)" a browser adds to a name already taken.
MAX_NAME_BYTES: Final = 200
MAX_SLUG: Final = 80
_UNSAFE: Final = re.compile(r'[/\\:*?"<>|]')
_SPACES: Final = re.compile(r"\s+")
_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")


def fallback_name(key: str) -> str:
    """The name of an audio without a usable title."""
    return f"listen-{key[:12]}"


def safe_title(title: str | None, key: str) -> str:
    """``title`` as a file name without extension; ``fallback_name`` when nothing is left."""
    # Control characters part words; format characters (a zero-width joiner
    # inside an emoji, a soft hyphen) are dropped.
    kept = "".join(
        " " if unicodedata.category(c) == "Cc" else c
        for c in unicodedata.normalize("NFC", title or "")
        if unicodedata.category(c) != "Cf"
    )
    name = _SPACES.sub(" ", _UNSAFE.sub(" ", kept)).strip(" .")
    while len(name.encode()) > MAX_NAME_BYTES:
        name = name[:-1]
    return name.rstrip(" .") or fallback_name(key)


def slug(name: str, key: str) -> str:
    """An ASCII slug of a file name: lower case, words joined by hyphens."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = _NOT_SLUG.sub("-", ascii_only.lower()).strip("-")
    return words[:MAX_SLUG].rstrip("-") or fallback_name(key)


def content_disposition(title: str | None, key: str, fmt: str) -> str:
    """The ``Content-Disposition`` that saves audio ``key`` in format ``fmt`` under its title."""
    name = safe_title(title, key)
    return (
        f'attachment; filename="{slug(name, key)}.{fmt}"; '
        f"filename*=UTF-8''{quote(f'{name}.{fmt}', safe='')}"
    )
