"""Which library spells our numbers: num2words, inflect or unicode-rbnf, each behind the same
rule layer (workers.normalise), scored on the speech fixtures with the real espeak-ng scorer,
with the cost of 20,000 number spellings and of importing each.

usage: python -m benchmarks.number_words   (about 30 s; prints one JSON line per library)

inflect and unicode-rbnf are not dependencies of the project: install them
first (``pip install inflect unicode-rbnf``) to compare them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workers.normalise import normalise, words

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests/fixtures/speech").glob("en-*.tsv"))
SAMPLE = [*range(0, 2100), 12345, 1234567, 2_000_000_000]


def _num2words() -> tuple[Callable[[int], str], Callable[[int], str]]:
    from num2words import num2words

    return (lambda n: str(num2words(n))), (lambda n: str(num2words(n, to="ordinal")))


def _inflect() -> tuple[Callable[[int], str], Callable[[int], str]]:
    import inflect

    p = inflect.engine()
    return (lambda n: str(p.number_to_words(n))), (lambda n: str(p.number_to_words(p.ordinal(n))))


def _rbnf() -> tuple[Callable[[int], str], Callable[[int], str]]:
    from unicode_rbnf import FormatPurpose, RbnfEngine

    e = RbnfEngine.for_language("en")
    return (lambda n: e.format_number(n).text), (
        lambda n: e.format_number(n, FormatPurpose.ORDINAL).text
    )


LIBRARIES = {"num2words": (_num2words, "num2words"), "inflect": (_inflect, "inflect"),
             "unicode-rbnf": (_rbnf, "unicode_rbnf")}  # fmt: skip


def score(path: Path) -> str:
    lines = [
        ln.split("~", 1)[0] for ln in path.read_text().splitlines() if "~" in ln and ln[0] != "#"
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as out:
        out.write("\n".join(normalise(line).text for line in lines) + "\n")
    scorer = [sys.executable, str(ROOT / "benchmarks/spoken_score.py"), str(path)]
    done = subprocess.run([*scorer, "--cmd", f"cat {out.name}"], capture_output=True, text=True)
    return done.stdout.splitlines()[-1].split()[1]


def main() -> None:
    raw_cardinal, raw_ordinal = words.cardinal, words.ordinal
    for name, (load, module) in LIBRARIES.items():
        imported = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import time; t = time.perf_counter(); import {module}; "
                "print(time.perf_counter() - t)",
            ],
            capture_output=True,
            text=True,
        )
        cardinal, ordinal = load()
        words.cardinal = lambda n, c=cardinal: (  # type: ignore[misc]
            "minus " + c(-n) if n < 0 else c(n).replace(",", "")
        )
        words.ordinal = lambda n, o=ordinal: o(n).replace(",", "")  # type: ignore[misc]
        t = time.perf_counter()
        for n in SAMPLE * 10:
            cardinal(n)
        per_call_us = (time.perf_counter() - t) / (len(SAMPLE) * 10) * 1e6
        result = {
            "library": name,
            "import_ms": round(float(imported.stdout) * 1000, 1),
            "cardinal_us": round(per_call_us, 2),
            **{p.stem: score(p) for p in FIXTURES},
        }
        print(json.dumps(result), flush=True)
    words.cardinal, words.ordinal = raw_cardinal, raw_ordinal


if __name__ == "__main__":
    main()
