"""Which extractor finds an article's body: trafilatura (as Listen calls it, through
``listen_service.ingest.extract``) against readability-lxml, scored by word-level F1
against the hand-made expected texts of the real pages in tests/fixtures/pages.

usage: python -m benchmarks.extraction [--markdown]   (about 20 s; readability-lxml is in
the dev extra)

Each page ``NAME.html.gz`` has ``NAME.txt``, its body as a reader would have it
read (docs/extraction.md says what counts as body). The headline is left out of
both sides: Listen puts the title first itself. The score is the F1 of the two
bags of words (lower-cased, punctuation dropped), so order does not count and a
repeated word counts as often as it appears.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import machine_info, utc_now
from listen_service.ingest.extract import extract

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "fixtures" / "pages"
_WORD = re.compile(r"\w+")
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote", "td", "dd")


def words(text: str) -> Counter[str]:
    return Counter(w.casefold() for w in _WORD.findall(text))


def word_f1(found: str, expected: str) -> float:
    """F1 of the bags of words of ``found`` against ``expected`` (0.0 to 1.0)."""
    got, want = words(found), words(expected)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision = common / sum(got.values())
    recall = common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    html: bytes
    expected: str


def pages() -> list[Page]:
    return [
        Page(
            path.name.removesuffix(".html.gz"),
            gzip.decompress(path.read_bytes()),
            path.with_name(path.name.removesuffix(".html.gz") + ".txt").read_text("utf-8"),
        )
        for path in sorted(PAGES.glob("*.html.gz"))
    ]


def listen_body(html: bytes) -> str:
    """The body Listen reads after the title (trafilatura)."""
    return "\n\n".join(extract(html).blocks)


def readability_body(html: bytes) -> str:
    from lxml import html as lxml_html
    from readability import Document

    summary = lxml_html.fromstring(Document(html).summary(html_partial=True))
    blocks = [
        " ".join(b.text_content().split())
        for b in summary.iter(*_BLOCKS)
        if not any(a.tag in _BLOCKS for a in b.iterancestors())
    ]
    return "\n\n".join(b for b in blocks if b) or summary.text_content()


EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    "trafilatura": listen_body,
    "readability-lxml": readability_body,
}


def score(page: Page, extractor: Callable[[bytes], str]) -> tuple[float, float]:
    """(F1, seconds) of one extractor on one page; a page it finds nothing in scores 0."""
    started = time.perf_counter()
    try:
        found = extractor(page.html)
    except Exception:  # an extractor that gives up has found nothing
        found = ""
    return word_f1(found, page.expected), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    results = {name: [score(p, fn) for p in pages()] for name, fn in EXTRACTORS.items()}
    names = [p.name for p in pages()]
    if args.markdown:
        print("| page | words | " + " | ".join(EXTRACTORS) + " |")
        print("|---|---:|" + "---:|" * len(EXTRACTORS))
        for i, page in enumerate(pages()):
            cells = " | ".join(f"{results[n][i][0]:.3f}" for n in EXTRACTORS)
            print(f"| {page.name} | {sum(words(page.expected).values())} | {cells} |")
    summary = {
        name: {
            "pages": len(rows),
            "mean_f1": round(statistics.fmean(f for f, _ in rows), 4),
            "median_f1": round(statistics.median(f for f, _ in rows), 4),
            "pages_below_0.9": [names[i] for i, (f, _) in enumerate(rows) if f < 0.9],
            "mean_ms": round(1000 * statistics.fmean(s for _, s in rows), 1),
        }
        for name, rows in results.items()
    }
    print(json.dumps({"when": utc_now(), "machine": machine_info(), "results": summary}))


if __name__ == "__main__":
    main()
