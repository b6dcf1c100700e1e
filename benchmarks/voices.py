"""espeak-ng against the Piper voice: speed, memory, first audio and intelligibility.

For each text size (``--words``, default 500, 2,000, 10,000 and 14,500 words
made from the fixture article; the last is about 100,000 characters, the
most a request may hold) and each voice (espeak-ng's ``gmw/en``, Piper's
``piper:en_US-joe-medium``), at 1 and 2 cores, a fresh child process pinned to that many cores
(``sched_setaffinity``; Piper's ONNX session then takes that many intra-op
threads, as in a worker with concurrency 1) warms its engine on a short text
(a worker has its model loaded), then renders the article through the whole
pipeline (``workers.pipeline.synthesize``, MP3 as the player gets it) and
reports:

* wall and CPU time (the process's own, ffmpeg's encoder aside), the audio's
  length and the real-time factor (wall / audio);
* time to first audio: from the start of the render to the first audio the
  encoder wrote (what progressive playback waits for);
* peak RSS of the process (``ru_maxrss`` from ``os.wait4``).

Intelligibility, measured the same way for both voices: the 500-word audio,
decoded to 16 kHz, is transcribed by pocketsphinx's US English model (from
the package index, inside its wheel) and scored against what was said (the
spoken form the engine was given) as word error rate (``jiwer``). It is a
small, old recogniser: the figures compare the two voices; they are not an
absolute measure. Needs ``pip install pocketsphinx jiwer`` (not project
dependencies); without them that column is left out.

Run from the repository root, with the ``neural`` extra and the test voice
installed (about 30 minutes on 2 cores)::

    python -m benchmarks.voices [--words 500 2000 10000 14500] [--cores 1 2]

``LISTEN_PIPER_MMAP_BYTES`` in its environment sets the children's malloc
threshold as it does a worker's (``workers.neural.Setup``); the children
start with a worker's environment (``listen_service.run.worker_env``: malloc's
huge pages, unless ``GLIBC_TUNABLES`` says ``glibc.malloc.hugetlb=0``).

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import build_text, log, machine_info, reap, utc_now
from listen_service.run import worker_env

VOICES = ("gmw/en", "piper:en_US-joe-medium")
WER_MAX_WORDS = 2000
TARGETS = {"rtf_2_cores": 0.06, "peak_rss_mb": 600.0, "first_audio_s": 1.0}


def child(voice: str, words: int, cores: int, out: Path) -> dict[str, Any]:
    """Render one article in this process, pinned to ``cores`` cores."""
    os.sched_setaffinity(0, set(range(cores)))
    from workers import neural

    # As a worker's LISTEN_PIPER_MMAP_BYTES would (for the A/B of that setting).
    mmap_bytes = os.environ.get("LISTEN_PIPER_MMAP_BYTES")
    if mmap_bytes is not None:
        neural.configure(neural.Setup(mmap_bytes=int(mmap_bytes)))
    from audio_cache import AudioCache
    from workers.pipeline import Request, plan, synthesize
    from workers.speakers import get_speaker

    speaker = get_speaker()
    voices = speaker.voices()
    warm = plan(Request(text="A short text to load the voice.", voice=voice), voices)
    synthesize(warm, cache=AudioCache(out / "warm"), engine=speaker)
    text = build_text(words, shift=cores)
    job = plan(Request(text=text, voice=voice, title=f"{words} words"), voices)
    first: list[float] = []
    started, cpu = time.perf_counter(), time.process_time()
    entry, _ = synthesize(
        job,
        cache=AudioCache(out / "cache"),
        engine=speaker,
        live=True,  # as a worker renders it: the audio is published while it is made
        first_audio=lambda: first.append(time.perf_counter()),
    )
    wall = time.perf_counter() - started
    said = " ".join(r.spoken.text for r in job.readings())
    return {
        "voice": voice,
        "words": words,
        "chars": len(job.text),
        "cores": cores,
        "wall_s": round(wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "audio_s": round(entry.duration_s, 1),
        "rtf": round(wall / entry.duration_s, 4),
        "first_audio_s": round(first[0] - started, 3) if first else None,
        "audio_path": str(entry.audio_path),
        "said": said,
    }


def run_child(voice: str, words: int, cores: int, work: Path) -> dict[str, Any]:
    out = work / f"{voice.replace(':', '_').replace('/', '_')}-{words}-{cores}"
    out.mkdir(parents=True)
    cmd = [sys.executable, "-m", "benchmarks.voices", "--child", voice, str(words), str(cores)]
    cmd.append(str(out))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=worker_env(os.environ))
    assert proc.stdout is not None
    raw = proc.stdout.read()
    reaped = reap(proc)
    if reaped.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {reaped.returncode}")
    result: dict[str, Any] = json.loads(raw.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = round(reaped.peak_rss_mb, 1)
    result["process_cpu_s"] = round(reaped.cpu_s, 2)
    return result


def _words_of(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def word_error_rate(audio: Path, said: str) -> float | None:
    """pocketsphinx's transcript of ``audio`` against ``said``; None without the tools."""
    try:
        import jiwer
        from pocketsphinx import Decoder
    except ImportError:
        return None
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(audio), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    decoder = Decoder(samprate=16000)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    heard = decoder.hyp().hypstr if decoder.hyp() else ""
    return round(float(jiwer.wer(_words_of(said), _words_of(heard) or "-")), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, nargs="+", default=[500, 2000, 10000, 14500])
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        voice, words, cores, out = args.child
        print(json.dumps(child(voice, int(words), int(cores), Path(out))))
        return
    work = Path(tempfile.mkdtemp(prefix="listen-voices-"))
    runs = []
    for words in args.words:
        for voice in VOICES:
            for cores in args.cores:
                log(f"{voice}: {words} words on {cores} core(s)…")
                runs.append(run_child(voice, words, cores, work))
                log(f"  {json.dumps({k: v for k, v in runs[-1].items() if k != 'said'})}")
    intelligibility: dict[str, float | None] = {}
    smallest = min(args.words)
    # Transcribing is slower than speaking: only for a text of up to 2,000 words.
    for voice in VOICES if smallest <= WER_MAX_WORDS else ():
        run = next(r for r in runs if r["voice"] == voice and r["words"] == smallest)
        log(f"transcribing {voice}'s {smallest} words…")
        intelligibility[voice] = word_error_rate(Path(run["audio_path"]), run["said"])
    print(
        f"{'voice':<24} {'words':>6} {'chars':>7} {'cores':>5} {'audio s':>8} {'wall s':>7} "
        f"{'cpu s':>6} {'RTF':>7} {'first s':>7} {'RSS MB':>7}"
    )
    for r in runs:
        print(
            f"{r['voice']:<24} {r['words']:>6} {r['chars']:>7} {r['cores']:>5} {r['audio_s']:>8} "
            f"{r['wall_s']:>7} {r['cpu_s']:>6} {r['rtf']:>7} {r['first_audio_s']!s:>7} "
            f"{r['peak_rss_mb']:>7}"
        )
    print(f"word error rate, pocketsphinx, {smallest} words: {intelligibility}")
    for r in runs:
        r.pop("said")
        r.pop("audio_path")
    print(
        json.dumps(
            {
                "date": utc_now(),
                "machine": machine_info(),
                "glibc_tunables": worker_env(os.environ)["GLIBC_TUNABLES"],
                "targets": TARGETS,
                "runs": runs,
                "word_error_rate": intelligibility,
            }
        )
    )


if __name__ == "__main__":
    main()
