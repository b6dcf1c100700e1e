"""Both ways of finding the engine and the encoder: system packages and pip-shipped builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ffprobe

PROBE = textwrap.dedent(
    """
    import json, sys
    from audio_cache import AudioCache
    from workers.engine import get_engine
    from workers.pipeline import Request, plan, synthesize
    from workers.system import find_ffmpeg
    engine = get_engine()
    job = plan(Request(text="Offline speech, from whichever build is here."), engine.voices())
    entry, _ = synthesize(job, cache=AudioCache(sys.argv[1]), engine=engine)
    maps = open("/proc/self/maps").read()
    print(json.dumps({
        "espeak": engine.library.source,
        "espeak_mapped": sorted({l.split()[-1] for l in maps.splitlines() if "libespeak-ng" in l}),
        "ffmpeg": find_ffmpeg(),
        "audio": str(entry.audio_path),
        "duration_s": entry.duration_s,
    }))
    """
)


def probe(tmp_path: Path, choice: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "LISTEN_ESPEAK": choice, "LISTEN_FFMPEG": choice}
    env.pop("ESPEAK_DATA_PATH", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / choice)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_system_packages_are_preferred(tmp_path: Path) -> None:
    found = probe(tmp_path, "auto")
    assert found["espeak"] == "system"
    assert all("espeakng_loader" not in p for p in found["espeak_mapped"])
    assert "imageio_ffmpeg" not in found["ffmpeg"]
    ffprobe(Path(found["audio"]))


def test_pip_shipped_builds_work_alone(tmp_path: Path) -> None:
    # What a machine without the espeak-ng and ffmpeg packages gets.
    found = probe(tmp_path, "bundled")
    assert found["espeak"] == "bundled"
    assert found["espeak_mapped"] and all("espeakng_loader" in p for p in found["espeak_mapped"])
    assert "imageio_ffmpeg" in found["ffmpeg"]
    ffprobe(Path(found["audio"]))
    assert found["duration_s"] > 1.5


def test_bad_choice_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "LISTEN_ESPEAK": "sometimes"}
    out = subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "voices"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr == (
        "listen-service: configuration error: "
        "LISTEN_ESPEAK must be one of auto, system, bundled (got 'sometimes')\n"
    )


@pytest.mark.parametrize("var", ["LISTEN_FFMPEG"])
def test_ffmpeg_path_must_be_executable(tmp_path: Path, var: str) -> None:
    from workers.errors import EncoderError
    from workers.system import find_ffmpeg

    with pytest.raises(EncoderError, match="not an executable"):
        find_ffmpeg({var: str(tmp_path / "nope" / "ffmpeg")})
