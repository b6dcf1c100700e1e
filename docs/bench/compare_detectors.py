"""Compare language detectors on tests/fixtures/languages.tsv (docs/languages.md).

Run from the repository root after ``pip install py3langid`` (not a dependency):
``python docs/bench/compare_detectors.py OUT.json``. Each
candidate is loaded in a fresh interpreter so that import and model-load times
are not hidden by another candidate's imports. Chinese rows count as right when
the detector says Chinese; Traditional vs Simplified is not a detector's job.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, time
kind = sys.argv[1]
rows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2], encoding="utf-8")
        if l.strip() and not l.startswith("#")]
voices = set(json.loads(sys.argv[3])) | {"zh"}
t0 = time.perf_counter()
if kind.startswith("lingua"):
    from lingua import Language, LanguageDetectorBuilder
    langs = [l for l in Language.all() if l.iso_code_639_1.name.lower() in voices]
    b = (LanguageDetectorBuilder.from_languages(*langs) if kind.endswith("voices")
         else LanguageDetectorBuilder.from_all_languages())
    if "low" in kind:
        b = b.with_low_accuracy_mode()
    if "preload" in kind:
        b = b.with_preloaded_language_models()
    det = b.build()
    def detect(t):
        r = det.detect_language_of(t)
        return r.iso_code_639_1.name.lower() if r else "?"
else:
    import py3langid.langid as L
    ident = L.LanguageIdentifier.from_modelpath(L.MODEL_DIR / L.MODEL_FILE, norm_probs=True)
    if kind.endswith("voices"):
        ident.set_languages(sorted(voices & set(ident.nb_classes)))
    def detect(t):
        return ident.classify(t)[0]
t_load = time.perf_counter() - t0
t1 = time.perf_counter(); detect(rows[0][1]); first = time.perf_counter() - t1
right, wrong = 0, []
t2 = time.perf_counter()
for _ in range(5):
    for lang, text in rows:
        want = "zh" if lang.startswith(("yue", "cmn", "mixed")) else lang
        got = detect(text)
        if _ == 0:
            if got == want: right += 1
            else: wrong.append(f"{lang}->{got}: {text[:40]}")
per = (time.perf_counter() - t2) / (5 * len(rows)) * 1000
import resource
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"candidate": kind, "load_s": round(t_load, 3), "first_call_s": round(first, 3),
                  "ms_per_paragraph": round(per, 3), "right": right, "of": len(rows),
                  "peak_rss_mb": round(rss), "wrong": wrong}, ensure_ascii=False))
"""


def espeak_languages() -> list[str]:
    out = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True)
    codes = {line.split()[1].split("-")[0] for line in out.stdout.splitlines()[1:]}
    return sorted(codes)


def main() -> None:
    fixture = ROOT / "tests" / "fixtures" / "languages.tsv"
    voices = json.dumps(espeak_languages())
    results = []
    for kind in (
        "lingua-all",
        "lingua-all-preload",
        "lingua-all-low",
        "lingua-voices",
        "lingua-voices-preload",
        "lingua-voices-low",
        "py3langid-all",
        "py3langid-voices",
    ):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, kind, str(fixture), voices],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout))
        print(out.stdout.strip())
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as out_file:
            json.dump(results, out_file, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
