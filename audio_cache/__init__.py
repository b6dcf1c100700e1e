"""A content-addressed store of synthesised audio with a JSON metadata sidecar.

``keys`` turns synthesis inputs into a key (pure); ``store`` keeps the files,
written atomically so that no reader ever sees half of one. Standard library
only: this package knows nothing of Flask, Celery or the speech engine.
"""

from audio_cache.keys import cache_key, is_valid_key, key_path_parts
from audio_cache.store import FORMATS, AudioCache, CacheStats, Entry

__all__ = [
    "FORMATS",
    "AudioCache",
    "CacheStats",
    "Entry",
    "cache_key",
    "is_valid_key",
    "key_path_parts",
]
