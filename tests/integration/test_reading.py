"""How the pipeline reads an article: normalised, in each paragraph's language, with
the site's lexicon — through the real engine, ffmpeg and cache."""

# Chinese punctuation is the point.
# ruff: noqa: RUF001

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from audio_cache import AudioCache
from tests.conftest import require
from workers import reading
from workers.engine import Engine
from workers.errors import InvalidSetting
from workers.lexicon import Lexicon, LexiconError
from workers.pipeline import Request, plan, synthesize

CANTONESE = (
    "天文台表示，明日天氣酷熱，市民應避免長時間在戶外活動。\n\n"
    "政府新聞處今日公布，香港貿易發展局將於下月舉辦展覽。"
)


def texts(engine: Engine, text: str, **kw: object) -> list[list[tuple[str, str]]]:
    job = plan(Request(text=text, **kw), engine.voices())  # type: ignore[arg-type]
    return [r.texts() for r in job.readings()]


def test_the_engine_gets_the_spoken_form_and_timings_point_at_the_written_one(
    engine: Engine, tmp_path: Path
) -> None:
    text = "In 2019, HK$2.4bn went to Dr Lam.\n\nPrices rose 3-5% on 12/03/2024."
    assert texts(engine, text) == [
        [
            (
                "gmw/en",
                "In twenty nineteen, two point four billion Hong Kong dollars went to doctor Lam.",
            )
        ],
        [
            (
                "gmw/en",
                "Prices rose three to five percent on the twelfth of March twenty twenty-four.",
            )
        ],
    ]
    assert "December" in texts(engine, text, date_order="mdy")[1][0][1]
    job = plan(Request(text=text), engine.voices())
    entry, _ = synthesize(job, cache=AudioCache(tmp_path), engine=engine)
    timings = entry.meta["timings"]
    assert [text[t["char_start"] : t["char_end"]] for t in timings] == [
        "In 2019, HK$2.4bn went to Dr Lam.",
        "Prices rose 3-5% on 12/03/2024.",
    ]
    assert [t["lang"] for t in timings] == ["en", "en"]


def test_a_cantonese_article_is_read_by_the_cantonese_voice(engine: Engine, tmp_path: Path) -> None:
    job = plan(Request(text=CANTONESE, fmt="wav"), engine.voices())
    entry, _ = synthesize(job, cache=AudioCache(tmp_path), engine=engine)
    assert [t["lang"] for t in entry.meta["timings"]] == ["yue", "yue"]
    reference = tmp_path / "cli.wav"
    subprocess.run(
        [require("espeak-ng"), "-v", "yue", "-w", str(reference), CANTONESE.replace("\n\n", " ")],
        check=True,
    )
    with wave.open(str(reference)) as w:
        expected = w.getnframes() / w.getframerate()
    # Measured within 1 %; read by the English voice ("Chinese letter" for each
    # character) it would last several times longer.
    assert abs(entry.duration_s - expected) < 0.1 * expected, (entry.duration_s, expected)


def test_names_in_another_script_get_their_own_voice(engine: Engine) -> None:
    [[before, name, after]] = texts(engine, "Dr Peter Lam (林建岳) said so.", lang="en")
    assert (before[0], name, after[0]) == ("gmw/en", ("sit/yue", "林建岳"), "gmw/en")


def test_the_key_depends_on_the_lexicon_entries_that_apply_and_no_others(engine: Engine) -> None:
    voices = engine.voices()
    text = "The HKTDC met in Central."
    bare = plan(Request(text=text), voices)
    other = Lexicon.from_json([{"grapheme": "Sima", "alias": "See-mah"}])
    assert plan(Request(text=text), voices, lexicon=other).key == bare.key
    mine = Lexicon.from_json(
        [{"grapheme": "HKTDC", "alias": "H K T D C"}, {"grapheme": "Sima", "alias": "See-mah"}]
    )
    web = plan(Request(text=text), voices, lexicon=mine)
    assert web.key != bare.key
    assert web.lexicon.to_json() == [{"graphemes": ["HKTDC"], "alias": "H K T D C"}]
    # The worker, given only those entries in the payload, finds the same job.
    worker = plan(Request(text=text, lexicon=web.lexicon.to_json()), voices)
    assert worker.key == web.key
    assert [r.texts() for r in worker.readings()] == [[("gmw/en", "The H K T D C met in Central.")]]


def test_reading_settings_are_part_of_the_key_and_checked(engine: Engine) -> None:
    voices = engine.voices()
    text = "On 03/04/2024."
    keys = {
        plan(Request(text=text, **kw), voices).key  # type: ignore[arg-type]
        for kw in [{}, {"date_order": "mdy"}, {"traditional_chinese": "cmn"}, {"lang": "en-gb"}]
    }
    assert len(keys) == 4
    with pytest.raises(InvalidSetting, match="date_order"):
        plan(Request(text=text, date_order="ymd"), voices)
    with pytest.raises(InvalidSetting, match="traditional_chinese"):
        plan(Request(text=text, traditional_chinese="wuu"), voices)
    with pytest.raises(LexiconError):
        plan(Request(text=text, lexicon=[{"grapheme": "On", "alphabet": "ipa"}]), voices)


def test_the_first_sentence_is_read_before_the_article_is_looked_at(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = reading.paragraph_languages

    def counting(paragraphs: list[str], *args: object, **kw: object) -> list[str]:
        seen.append(len(paragraphs))
        return real(paragraphs, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(reading, "paragraph_languages", counting)
    job = plan(Request(text="\n\n".join(f"Paragraph {n}." for n in range(50))), engine.voices())
    readings = job.readings()
    next(readings)
    assert seen == [1]
    assert len(list(readings)) == 49 and seen == [1, 4, 16, 29]
