"""`listen-service normalize` as the scorer runs it: a real process reading standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def normalize(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "normalize", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_prints_one_spoken_line_per_line_read_in_order() -> None:
    done = normalize("In 2019, services grew.\n\nprices rose 3-5%\n£240m\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "In twenty nineteen, services grew.",
        "",
        "prices rose three to five percent",
        "two hundred and forty million pounds",
    ]


def test_date_order_and_language_are_passed_on() -> None:
    assert normalize("on 05/06/2021\n", "--date-order", "mdy").stdout == (
        "on May sixth, twenty twenty-one\n"
    )
    assert normalize("on 05/06/2021\n").stdout == "on the fifth of June twenty twenty-one\n"
    german = normalize("Am 5. Mai stimmt das.[3] Wirklich!!!\n", "--lang", "de")
    assert german.stdout == "Am 5. Mai stimmt das. Wirklich!\n"


def test_answers_each_line_before_the_next_is_written() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "listen_service.cli", "normalize"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("Mr Lee said\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "mister Lee said\n"
        proc.stdin.write("in the 1990s\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "in the nineteen nineties\n"
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()


def test_a_bad_date_order_is_a_usage_error() -> None:
    done = normalize("x\n", "--date-order", "ymd")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_a_lexicon_file_applies_before_the_normaliser(tmp_path: Path) -> None:
    entries = '[{"grapheme": "HKTDC", "alias": "Hong Kong Trade Development Council"}]'
    (tmp_path / "lexicon.json").write_text(entries)
    (tmp_path / "lexicon.pls").write_text(
        '<?xml version="1.0"?><lexicon version="1.0" '
        'xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en">'
        "<lexeme><grapheme>HKTDC</grapheme><alias>the council</alias></lexeme></lexicon>"
    )
    line = "The HKTDC grew 3-5%.\n"
    done = normalize(line, "--lexicon", str(tmp_path / "lexicon.json"))
    assert done.stdout == "The Hong Kong Trade Development Council grew three to five percent.\n"
    assert normalize(line, "--lexicon", str(tmp_path / "lexicon.pls")).stdout == (
        "The the council grew three to five percent.\n"
    )
    (tmp_path / "bad.json").write_text('[{"grapheme": "HKTDC"}]')
    bad = normalize(line, "--lexicon", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "HKTDC" in bad.stderr


def test_a_sites_stored_lexicon_is_used_and_an_unknown_site_refused(tmp_path: Path) -> None:
    from listen_service.lexicons.store import FileLexiconStore
    from workers.lexicon import Lexicon

    FileLexiconStore(tmp_path).put(
        "news", Lexicon.from_json([{"grapheme": "Sima", "alias": "See-mah"}])
    )
    env = {"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_SITE_KEYS": "news:news-public-key"}
    done = subprocess.run(
        [sys.executable, "-m", "listen_service.cli", "normalize", "--site", "news"],
        input="Sima won.\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.stdout == "See-mah won.\n", done.stderr
    assert normalize("x\n", "--site", "nosuch").returncode == 2
