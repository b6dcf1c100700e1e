"""The exceptions of the synthesis core, in one tree.

::

    ListenError                 anything this project raises on purpose
    ├── InputError              the caller's text or settings are unusable (HTTP 4xx)
    │   ├── EmptyText           nothing speakable after preparation
    │   ├── TextTooLong         above the configured maximum number of characters
    │   ├── UnknownVoice        no installed voice matches the id or language asked for
    │   │   └── EngineUnavailable   the voice's engine (e.g. Piper) is not installed here
    │   ├── InvalidSetting      rate, pitch, volume, format or bitrate out of range
    │   └── LexiconError        a pronunciation lexicon or one of its entries is unusable
    │       └── MalformedDocument   a PLS document that is not well-formed XML, or has a DTD
    ├── ConfigError             the operator's settings are unusable (fails at start-up)
    └── SynthesisError          the machine failed, not the caller (HTTP 5xx, retryable)
        ├── EngineError         the speech engine failed or produced no audio
        │   ├── EngineTimeout   the engine did not finish an utterance in time
        │   └── VoiceUnusable   a voice's model cannot be loaded (retrying cannot help)
        ├── EncoderError        ffmpeg failed to encode the assembled audio
        └── OutOfSpace          a write failed for want of disk space (ENOSPC, EDQUOT)

Every exception carries a short machine-readable ``code`` so that the web
side can map it to one JSON error shape without knowing the classes.
``disk_full`` tells whether any exception was, at bottom, a full disk.
"""

from __future__ import annotations

import errno

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class ListenError(Exception):
    """Base class; ``code`` is a stable identifier for API clients."""

    code = "listen_error"


class InputError(ListenError):
    code = "invalid_input"


class EmptyText(InputError):
    code = "empty_text"


class TextTooLong(InputError):
    code = "text_too_long"


class UnknownVoice(InputError):
    code = "unknown_voice"


class EngineUnavailable(UnknownVoice):
    """A voice of an engine this service does not have (``piper:`` without the extra)."""

    code = "engine_unavailable"


class InvalidSetting(InputError):
    code = "invalid_setting"


class LexiconError(InputError):
    """The lexicon, or one of its entries, is unusable; the message names which."""

    code = "invalid_lexicon"


class MalformedDocument(LexiconError):
    """A PLS document that is not well-formed XML, or declares a DTD or entities."""

    code = "malformed_pls"


class ConfigError(ListenError):
    code = "config_error"


class SynthesisError(ListenError):
    code = "synthesis_failed"


class EngineError(SynthesisError):
    code = "engine_failed"


class EngineTimeout(EngineError):
    code = "engine_timeout"


class VoiceUnusable(EngineError):
    """A voice's model file is missing, truncated or not a model: the job fails at once."""

    code = "voice_unusable"


class EncoderError(SynthesisError):
    code = "encoder_failed"


class OutOfSpace(SynthesisError):
    code = "insufficient_storage"


def disk_full(exc: BaseException) -> bool:
    """True if ``exc`` or an exception it arose from is "no space left" or "quota exceeded"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OutOfSpace):
            return True
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
