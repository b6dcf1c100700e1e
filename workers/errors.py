"""The exceptions of the synthesis core, in one tree.

::

    ListenError                 anything this project raises on purpose
    ├── InputError              the caller's text or settings are unusable (HTTP 4xx)
    │   ├── EmptyText           nothing speakable after preparation
    │   ├── TextTooLong         above the configured maximum number of characters
    │   ├── UnknownVoice        no installed voice matches the id or language asked for
    │   └── InvalidSetting      rate, pitch, volume, format or bitrate out of range
    ├── ConfigError             the operator's settings are unusable (fails at start-up)
    └── SynthesisError          the machine failed, not the caller (HTTP 5xx, retryable)
        ├── EngineError         the speech engine failed or produced no audio
        │   └── EngineTimeout   the engine did not finish an utterance in time
        └── EncoderError        ffmpeg failed to encode the assembled audio

Every exception carries a short machine-readable ``code`` so that the web
side can map it to one JSON error shape without knowing the classes.
"""

from __future__ import annotations


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


class InvalidSetting(InputError):
    code = "invalid_setting"


class ConfigError(ListenError):
    code = "config_error"


class SynthesisError(ListenError):
    code = "synthesis_failed"


class EngineError(SynthesisError):
    code = "engine_failed"


class EngineTimeout(EngineError):
    code = "engine_timeout"


class EncoderError(SynthesisError):
    code = "encoder_failed"
