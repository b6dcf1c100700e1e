"""Article text → encoded audio with sentence timings, through the cache.

``plan`` validates a request and computes its cache key without touching the
engine (it only needs the voice list); ``synthesize`` renders a plan, or
returns the cached entry when it already exists. Neither knows of Flask or
Celery: the CLI, the Celery task and the benchmarks all call these two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audio_cache import AudioCache, Entry, cache_key
from workers.audio import DEFAULT_BITRATE, Assembler, Encoder, EncodeSettings, Pauses
from workers.canonical import canonical_line, canonical_text
from workers.engine import SpeechSettings
from workers.errors import EmptyText, InvalidSetting
from workers.languages import CHINESE, TRADITIONAL_DEFAULT
from workers.lexicon import Lexicon
from workers.live import STREAMABLE, FirstAudio, TimingsLog, publish, withdraw
from workers.reading import DATE_ORDERS, Reading, read, reading_version
from workers.speakers import SpeechEngine
from workers.text import DEFAULT_CHUNK_CHARS, DEFAULT_MAX_CHARS, PreparedText, prepare, split
from workers.voices import (
    ESPEAK,
    PITCH_DEFAULT,
    PITCH_MAX,
    PITCH_MIN,
    RATE_DEFAULT,
    RATE_MAX,
    RATE_MIN,
    VOLUME_DEFAULT,
    VOLUME_MAX,
    VOLUME_MIN,
    Voice,
    check_range,
    first_piece_chars,
    piece_chars,
    resolve_voice,
)
from workers.words import Word, as_json, piece_words, source_map, written

# Part of every cache key: bump it whenever a change to this pipeline changes
# the audio or the timings, so that old entries stop matching.
PIPELINE_VERSION = "5"

Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Request:
    """What a caller asks for; every field but ``text`` has a default."""

    text: str
    title: str | None = None
    artist: str | None = None
    voice: str | None = None
    lang: str | None = None
    rate: int = RATE_DEFAULT
    pitch: int = PITCH_DEFAULT
    volume: float = VOLUME_DEFAULT
    fmt: str = "mp3"
    bitrate_kbps: int = DEFAULT_BITRATE
    # The site's lexicon entries found in this text (the web side puts them in
    # the payload, so that a worker needs no lexicon store of its own).
    lexicon: Sequence[Mapping[str, Any]] = ()
    date_order: str = "dmy"  # how 03/04/2024 is read: "dmy" or "mdy"
    # The language of Traditional Chinese that no region places: "yue" or "cmn".
    traditional_chinese: str = TRADITIONAL_DEFAULT


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated request: everything that decides the output, and its key."""

    key: str
    prepared: PreparedText
    speech: SpeechSettings
    encode: EncodeSettings
    voice: Voice
    voices: tuple[Voice, ...]
    declared: str | None  # the language the page declared
    lexicon: Lexicon  # the entries that apply to this text
    date_order: str
    traditional_chinese: str
    text: str  # the canonical text, which the timings' character offsets index

    def readings(self) -> Iterator[Reading]:
        """Each sentence's language, voices and spoken form (``workers.reading``)."""
        return read(
            self.prepared,
            voice=self.voice,
            voices=self.voices,
            declared=self.declared,
            lexicon=self.lexicon,
            date_order=self.date_order,
            traditional=self.traditional_chinese,
        )


def plan(
    request: Request,
    voices: Sequence[Voice],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    lexicon: Lexicon | None = None,
) -> Plan:
    """Validate ``request``; raise an ``InputError`` subclass naming the problem.

    ``lexicon`` is a site's whole lexicon (the web side); without it, the
    request's own entries are used (a worker). Either way the plan keeps the
    entries that apply to this text, and its key depends on exactly those:
    editing a lexicon re-renders the articles it touches and no others.
    """
    check_range("rate", request.rate, RATE_MIN, RATE_MAX, " words per minute")
    check_range("pitch", request.pitch, PITCH_MIN, PITCH_MAX)
    check_range("volume", request.volume, VOLUME_MIN, VOLUME_MAX)
    title = None if request.title is None else canonical_line(request.title)
    encode = EncodeSettings(request.fmt, request.bitrate_kbps, title, request.artist)
    encode.validate()
    voice = resolve_voice(voices, voice=request.voice, lang=request.lang)
    if voice.engine != ESPEAK and request.pitch != PITCH_DEFAULT:
        raise InvalidSetting(
            f"pitch cannot be changed for {voice.engine} voices such as {voice.id}; "
            f"leave it at {PITCH_DEFAULT}"
        )
    # What is read, keyed and timed: copies that differ in nothing heard are one.
    text = canonical_text(request.text)
    prepared = prepare(text, max_chars=max_chars)
    if request.date_order not in DATE_ORDERS:
        raise InvalidSetting(f"date_order must be one of {', '.join(DATE_ORDERS)}")
    if request.traditional_chinese not in CHINESE:
        raise InvalidSetting(f"traditional_chinese must be one of {', '.join(CHINESE)}")
    if lexicon is None:
        lexicon = Lexicon.from_json(list(request.lexicon))
    used = lexicon.applicable_in(s.text for s in prepared.sentences)
    declared = request.lang.strip().lower() if request.lang and request.lang.strip() else None
    speech = SpeechSettings(voice.id, int(request.rate), int(request.pitch), float(request.volume))
    key = cache_key(
        # The canonical text, which the timings' character offsets index
        # (workers.canonical; player.js posts its text in that form).
        text=text,
        # Another engine's voice with its model's digest and engine version;
        # espeak-ng's voices as before (their keys do not change).
        voice=f"{voice.id}@{voice.version}" if voice.version else speech.voice_id,
        rate=speech.rate,
        pitch=speech.pitch,
        volume=speech.volume,
        fmt=encode.fmt,
        bitrate=str(encode.effective_bitrate),
        # How it is read: the normaliser's and detector's versions, the
        # declared language, the applicable lexicon entries, the date order.
        pipeline_version="/".join(
            [
                PIPELINE_VERSION,
                reading_version(),
                declared or "",
                used.digest(),
                request.date_order,
                request.traditional_chinese,
            ]
        ),
        tags={"title": encode.title or "", "artist": encode.artist or ""},
    )
    return Plan(
        key,
        prepared,
        speech,
        encode,
        voice,
        tuple(voices),
        declared,
        used,
        request.date_order,
        request.traditional_chinese,
        text,
    )


def synthesize(
    job: Plan,
    *,
    cache: AudioCache,
    engine: SpeechEngine,
    progress: Progress | None = None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    live: bool = False,
    first_audio: Callable[[], None] | None = None,
) -> tuple[Entry, bool]:
    """Return ``(entry, was_cached)``; render and store the audio on a miss.

    Nothing half-made is ever an entry: the encoder writes a temp file in the
    entry's directory that the cache moves into place only when complete.
    With ``live``, a streamable format's temp file is also published under
    ``cache.live_path`` while it grows, and its sentence timings so far under
    ``cache.live_timings_path``, for readers of the job in progress
    (``workers.live``); the finished file is the same either way.
    ``first_audio`` is called once, from another thread, when the first audio
    past the file's header is written (for WAV: once the entry is stored);
    not on a cache hit.
    """
    hit = cache.get(job.key)
    if hit is not None:
        return hit, True
    fmt = job.encode.fmt
    tmp = cache.temp_path(job.key, "." + fmt)
    try:
        # Exited in reverse, all after put: a reader that sees a live name go
        # finds the entry complete.
        with contextlib.ExitStack() as stack:
            on_timing: Callable[[dict[str, Any]], None] | None = None
            streamed = False
            if live and fmt in STREAMABLE:
                log = TimingsLog(
                    cache.temp_path(job.key, ".jsonl"), cache.live_timings_path(job.key)
                )
                on_timing = stack.enter_context(log)
                streamed = stack.enter_context(_published(tmp, cache.live_path(job.key, fmt)))
            watch = None if first_audio is None else FirstAudio(tmp, fmt, first_audio)
            if watch is not None:
                stack.enter_context(watch)
            with Encoder(tmp, job.encode, live=streamed) as encoder:
                timings = _render(job, engine, Assembler(encoder), progress, chunk_chars, on_timing)
                duration_ms = timings[-1]["end_ms"] if timings else 0
                if duration_ms == 0:
                    raise EmptyText("the speech engine found nothing to say in this text")
                encoder.finish(duration_ms)
            entry = cache.put(
                job.key,
                tmp,
                fmt=job.encode.fmt,
                duration_s=duration_ms / 1000,
                title=job.encode.title,
                meta=_meta(job, timings),
            )
            if watch is not None:
                watch.done()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return entry, False


@contextlib.contextmanager
def _published(tmp: Path, live_path: Path) -> Iterator[bool]:
    """``tmp`` also named ``live_path`` for the ``with`` body; False where that cannot be."""
    inode = publish(tmp, live_path)  # None: made as before, just not streamed
    try:
        yield inode is not None
    finally:
        if inode is not None:
            withdraw(live_path, inode)


def _render(
    job: Plan,
    engine: SpeechEngine,
    asm: Assembler,
    progress: Progress | None,
    chunk_chars: int,
    on_timing: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    sentences = job.prepared.sentences
    pauses = Pauses.of(job.voice.engine).scaled(job.speech.rate)
    total = sum(len(s.text) for s in sentences)
    done = 0
    timings: list[dict[str, Any]] = []
    for reading, sentence in zip(job.readings(), sentences, strict=True):
        if timings:
            same_paragraph = sentences[sentence.index - 1].paragraph == sentence.paragraph
            asm.pause(pauses.sentence_ms if same_paragraph else pauses.paragraph_ms)
        start = None
        said: list[Word] | None = []
        for n, (voice_id, text, at) in enumerate(reading.placed_texts()):
            if n:  # another voice takes over within the sentence: a word's gap
                asm.pause(pauses.clause_ms // 2)
            speech = replace(job.speech, voice_id=voice_id)
            cursor = 0
            limit = piece_chars(voice_id, chunk_chars)
            # The article's opening words are heard as soon as they are made.
            first = first_piece_chars(voice_id, chunk_chars) if not timings and not n else None
            for m, piece in enumerate(split(text, limit, first)):
                if m:
                    asm.pause(pauses.clause_ms)
                pcm, marks = engine.synthesize_words(piece, speech)
                begin, end = asm.add(pcm)
                start = begin if start is None else start
                cursor = text.index(piece, cursor)
                found = piece_words(piece, at + cursor, marks, asm.placed, end)
                cursor += len(piece)
                if said is not None and pcm:
                    # A piece said without marks: no word timings for this sentence.
                    said = said + found if found else None
        timing: dict[str, Any] = {
            "index": sentence.index,
            "paragraph": sentence.paragraph,
            "start_ms": start if start is not None else asm.position_ms,
            "end_ms": asm.position_ms,
            "char_start": sentence.char_start,
            "char_end": sentence.char_end,
            "lang": reading.lang,
        }
        if said:
            raw = job.text[sentence.char_start : sentence.char_end]
            to_raw = source_map(raw, sentence.text)
            timing["words"] = as_json(written(said, reading.spoken), to_raw, sentence.char_start)
        timings.append(timing)
        if on_timing is not None:
            on_timing(timings[-1])
        done += len(sentence.text)
        if progress is not None:
            progress(done / total)
    return timings


def _meta(job: Plan, timings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "voice": job.speech.voice_id,
        "rate": job.speech.rate,
        "pitch": job.speech.pitch,
        "volume": job.speech.volume,
        "bitrate_kbps": job.encode.effective_bitrate,
        "artist": job.encode.artist,
        "sentences": len(timings),
        "paragraphs": job.prepared.paragraphs,
        "text_chars": len(job.prepared.text),
        "pipeline_version": PIPELINE_VERSION,
        "timings": timings,
    }
