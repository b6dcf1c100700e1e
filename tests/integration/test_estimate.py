"""The duration estimate (``text.estimate_seconds``, the same figures as player.js) against
what the real engine produces: within 10 % on the fixtures, including the two it was not
fitted on (en-lead, and prose from the docs), at the default rate and a faster one."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_cache import AudioCache
from tests.conftest import FIXTURES
from workers.pipeline import Request, plan, synthesize
from workers.text import estimate_seconds

ROOT = Path(__file__).resolve().parents[2]


def written(name: str) -> list[str]:
    lines = (FIXTURES / "speech" / f"{name}.tsv").read_text().splitlines()
    return [line.split("~")[0] for line in lines if line and not line.startswith("#")]


def prose() -> str:
    paragraphs = (ROOT / "docs" / "architecture.md").read_text().split("\n\n")
    kept = [p for p in paragraphs if p[:1].isalpha() and not set("|`#") & set(p)]
    return "\n\n".join(kept)[:5000]


TEXTS = {
    "article": lambda: (FIXTURES / "hktdc-beijing-symposium.txt").read_text(),
    "news-numbers": lambda: "\n\n".join(written("en-news")),
    "more-numbers": lambda: "\n\n".join(written("en-more")),
    "blind-one-paragraph": lambda: " ".join(written("en-blind")),
    "lead-held-out": lambda: "\n\n".join(written("en-lead")),
    "prose-held-out": prose,
}


@pytest.mark.parametrize("rate", [175, 250])
@pytest.mark.parametrize("name", list(TEXTS))
def test_the_estimate_is_within_ten_percent(
    engine, cache: AudioCache, name: str, rate: int
) -> None:  # type: ignore[no-untyped-def]
    job = plan(Request(text=TEXTS[name](), rate=rate), engine.voices())
    entry, _ = synthesize(job, cache=cache, engine=engine)
    estimate = estimate_seconds(job.prepared, rate)
    print(f"{name} at {rate} wpm: {estimate:.1f} s estimated, {entry.duration_s:.1f} s made")
    assert estimate == pytest.approx(entry.duration_s, rel=0.10)
