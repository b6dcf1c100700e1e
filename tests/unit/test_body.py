"""The nesting-depth scan and the public face of job errors: pure logic, tested directly."""

from __future__ import annotations

import ast
import errno
import json
from pathlib import Path

import pytest
from kombu.exceptions import ChannelError

from listen_service.body import too_deep
from listen_service.errors import JOB_ERROR_MESSAGES, public_job_error
from workers.errors import ListenError, disk_full


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"text": "hi"}', 1),
        ("[[[]]]", 3),
        ('{"a": [{"b": [1]}]}', 4),
        ('{"text": "[[[[[[[[[[[["}', 1),  # brackets inside strings do not count
        ('{"text": "a \\" [[[[[ \\\\"}', 1),  # escaped quote, then an escaped backslash
        ('["\\\\", [[]]]', 3),  # a string ending in a backslash closes normally
        ("[" * 10 + "]" * 10, 10),
    ],
)
def test_depth_is_counted_outside_strings(text: str, depth: int) -> None:
    assert json.loads(text) is not None  # every case is valid JSON
    assert not too_deep(text, depth)
    assert too_deep(text, depth - 1)


def test_hostile_depth_is_found() -> None:
    assert too_deep("[" * 10_000_000, 32)
    assert not too_deep("[]" * 100_000, 1)


# Where the errors that ``enqueue_or_fail`` records are raised.
ENQUEUE_ERRORS_FROM = {"jobflow.py", "errors.py"}


def _codes_recorded_in_source() -> set[str]:
    """Error codes written into job records outside ``workers.errors``: the
    literal code given to a store's ``fail`` (or the task's ``_fail``), and the
    5xx ``ApiError`` codes that ``jobflow.enqueue_or_fail`` records."""
    root = Path(__file__).resolve().parents[2]
    codes: set[str] = set()
    for path in [
        *root.joinpath("workers").glob("*.py"),
        *root.joinpath("listen_service").glob("*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            position = {"fail": 1, "_fail": 2, "ApiError": 1}.get(name)
            if position is None or len(node.args) <= position:
                continue
            code = node.args[position]
            if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
                continue
            status = node.args[0]
            if name == "ApiError" and not (
                isinstance(status, ast.Constant)
                and status.value >= 500
                and path.name in ENQUEUE_ERRORS_FROM
            ):
                # A 4xx is answered to the client, never recorded in a job; so
                # is a 5xx raised anywhere but on the way to the broker.
                continue
            codes.add(code.value)
    return codes


def test_every_recorded_error_code_has_a_public_message_and_no_other() -> None:
    core = {cls.code for cls in _subclasses(ListenError)}
    recorded = _codes_recorded_in_source()
    assert {"too_many_attempts", "internal_error", "broker_unavailable"} <= recorded
    assert core | recorded == set(JOB_ERROR_MESSAGES)


def test_a_public_job_error_never_repeats_the_recorded_detail() -> None:
    recorded = {
        "code": "encoder_failed",
        "message": "gave up after 4 attempts: ffmpeg stopped early (exit 1): /srv/listen/audio/x",
    }
    public = public_job_error(recorded)
    assert public == {"code": "encoder_failed", "message": JOB_ERROR_MESSAGES["encoder_failed"]}
    assert "/" not in public["message"]
    unknown = public_job_error({"code": "something_new", "message": "/etc/passwd"})
    assert unknown["code"] == "something_new" and "/" not in unknown["message"]


def test_disk_full_is_found_anywhere_in_the_chain() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise ChannelError("Cannot add file '/data/broker/queue/x.msg'") from None
    except ChannelError as exc:
        # ``from None`` hides the cause from tracebacks but keeps __context__.
        assert disk_full(exc)
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk_full(ValueError("nothing to do with disks"))
