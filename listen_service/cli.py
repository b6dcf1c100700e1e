"""``listen-service``: the command line.

Subcommands: ``synth`` renders a text file through the cache, ``extract``
prints a page's article (title line, then the body), ``voices`` lists
voices, ``cache stats|prune`` looks after the store, ``normalize`` prints
the spoken form of each line it reads, ``workers`` lists worker processes,
``jobs list|retry|cancel`` steers the queue (on the configured job store and
broker, like the service), ``site-secret`` makes a site's secret key. Exit
status 0 on success, 2 for bad input or usage, 1 when synthesis itself failed
or a job command was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from listen_service import config
from listen_service.lanes import WORKER_LANES
from workers.errors import ConfigError, InputError, ListenError
from workers.lexicon import Lexicon
from workers.voices import PITCH_DEFAULT, RATE_DEFAULT, VOLUME_DEFAULT


def _progress_printer(enabled: bool):  # type: ignore[no-untyped-def]
    def show(fraction: float) -> None:
        print(f"\rsynthesising… {fraction:6.1%}", end="", file=sys.stderr, flush=True)

    return show if enabled else None


def cmd_synth(args: argparse.Namespace) -> int:
    from workers.pipeline import Request, plan, synthesize
    from workers.speakers import get_speaker

    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {args.file}: {exc}") from exc
    request = Request(
        text=text,
        title=args.title,
        artist=args.artist,
        voice=args.voice,
        lang=args.lang,
        rate=args.rate,
        pitch=args.pitch,
        volume=args.volume,
        fmt=args.format,
        bitrate_kbps=args.bitrate,
    )
    settings = config.load()
    request = replace(
        request,
        voice=request.voice or settings["LISTEN_DEFAULT_VOICE"] or None,
        date_order=settings["LISTEN_DATE_ORDER"],
        traditional_chinese=settings["LISTEN_TRADITIONAL_CHINESE"],
    )
    engine = get_speaker(settings["LISTEN_VOICES_DIR"])
    job = plan(request, engine.voices(), max_chars=settings["LISTEN_MAX_CHARS"])
    show = _progress_printer(not args.json and sys.stderr.isatty())
    cache = config.open_cache(settings)
    entry, cached = synthesize(job, cache=cache, engine=engine, progress=show)
    if show:
        print(file=sys.stderr)
    path = entry.audio_path
    if args.output:
        path = Path(args.output)
        shutil.copyfile(entry.audio_path, path)
    if args.json:
        print(
            json.dumps(
                {
                    "id": entry.key,
                    "path": str(path),
                    "cache_path": str(entry.audio_path),
                    "format": entry.fmt,
                    "bytes": entry.bytes,
                    "duration_s": entry.duration_s,
                    "sentences": len(entry.meta["timings"]),
                    "voice": entry.meta["voice"],
                    "cached": cached,
                    "timings": entry.meta["timings"],
                },
                ensure_ascii=False,
            )
        )
    else:
        how = "from cache" if cached else "synthesised"
        print(f"{path}  ({entry.duration_s:.1f} s, {len(entry.meta['timings'])} sentences, {how})")
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from workers.speakers import get_speaker

    speaker = get_speaker(config.load()["LISTEN_VOICES_DIR"])
    voices = speaker.voices()
    if args.json:
        print(json.dumps([v.as_dict() for v in voices], ensure_ascii=False))
    else:
        for v in voices:
            print(
                f"{v.id:28} {v.engine:10} {','.join(v.languages):14} {v.gender or '-':7} {v.name}"
            )
        if speaker.piper_missing:
            print(f"(no neural voices: {speaker.piper_missing})", file=sys.stderr)
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    cache = config.open_cache(config.load())
    if args.action == "prune":
        limit = args.max_bytes if args.max_bytes is not None else cache.max_bytes
        if limit is None:
            raise InputError("no size limit: pass --max-bytes N or set LISTEN_CACHE_MAX_BYTES")
        evicted = cache.evict(limit)
        print(f"evicted {len(evicted)} entries")
    stats = cache.stats()
    print(
        json.dumps(
            {
                "root": stats.root,
                "entries": stats.entries,
                "bytes": stats.bytes,
                "max_bytes": stats.max_bytes,
            }
        )
    )
    return 0


def spoken_line(line: str, lang: str, date_order: str, lexicon: Lexicon | None = None) -> str:
    """The spoken form of one line: the lexicon, then the normaliser, as the pipeline does."""
    from workers.normalise import normalise

    if lexicon is None or not len(lexicon):
        return normalise(line, lang, date_order=date_order).text
    entries = lexicon.apply(line)
    return normalise(entries.text, lang, date_order=date_order).text


def _lexicon(args: argparse.Namespace) -> Lexicon:
    """``--lexicon FILE`` (JSON or PLS), else ``--site S``'s stored one, else none."""
    from workers.lexicon import Lexicon

    if args.lexicon:
        try:
            data = Path(args.lexicon).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {args.lexicon}: {exc}") from exc
        if data.lstrip().startswith(b"<"):
            return Lexicon.from_pls(data)
        try:
            return Lexicon.from_json(json.loads(data))
        except ValueError as exc:
            raise InputError(f"{args.lexicon} is neither PLS XML nor a JSON list: {exc}") from exc
    if args.site:
        from listen_service.lexicons.store import open_lexicons

        settings = config.load()
        if args.site not in settings["LISTEN_SITE_KEYS"].values():
            raise InputError(f"no site {args.site!r} in LISTEN_SITE_KEYS")
        store = open_lexicons(settings["LISTEN_REDIS_URL"], Path(settings["LISTEN_DATA_DIR"]))
        return store.lexicon(args.site)
    return Lexicon()


def cmd_normalize(args: argparse.Namespace) -> int:
    lexicon = _lexicon(args)
    for line in sys.stdin:
        print(spoken_line(line.rstrip("\r\n"), args.lang, args.date_order, lexicon), flush=True)
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from listen_service.ingest.extract import extract
    from listen_service.ingest.fetch import FetchError, fetch_configured

    source: str = args.source
    document: str | bytes
    if source.startswith(("http://", "https://")):
        try:
            page = fetch_configured(source, config.load())
        except FetchError as exc:
            raise InputError(f"{exc.code}: {exc.message}") from exc
        document = page.document()
    elif source == "-":
        document = sys.stdin.buffer.read()
    else:
        try:
            document = Path(source).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror}") from exc
    article = extract(document)
    if args.json:
        fields = {"title": article.title, "byline": article.byline, "lang": article.lang}
        print(json.dumps({**fields, "blocks": list(article.blocks)}, ensure_ascii=False))
    else:
        print(article.title)
        print("\n\n".join(article.blocks))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from listen_service.run import serve

    return serve(args.host, args.port, args.concurrency, args.loglevel)


def cmd_web(args: argparse.Namespace) -> int:
    from listen_service.run import exec_web

    exec_web(args.bind, args.workers, args.threads)


def cmd_worker(args: argparse.Namespace) -> int:
    from listen_service.run import exec_worker

    exec_worker(args.concurrency, args.loglevel, args.lanes)


def cmd_workers(args: argparse.Namespace) -> int:
    """The worker processes from the registry: alive first, then lately gone."""
    import time

    from listen_service.ops.workers import worker_list
    from workers.registry import open_registry

    settings = config.load()
    registry = open_registry(settings["LISTEN_REDIS_URL"], Path(settings["LISTEN_DATA_DIR"]))
    found = worker_list(registry, settings)
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    if not found:
        print("no worker has sent a heartbeat", file=sys.stderr)
    now = time.time()
    for w in found:
        job = f"{w['job'][:12]} for {now - w['job_since']:.0f} s" if w["job"] else "idle"
        state = "alive" if w["alive"] else "STALE"
        print(
            f"{state:5} {w['node']:24} {w['host']}:{w['pid']:<8} x{w['concurrency']:<3} "
            f"{','.join(w['lanes']):20} {job:24} beat {w['heartbeat_age_s']:.0f} s ago"
        )
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _job_line(job: dict[str, Any]) -> str:
    error = job["error"] or {}
    what = f"{error['code']}: {error['message']}" if error else (job["title"] or "")
    return (
        f"{job['id'][:12]}  {job['status']:8} {_seconds(job['age_s']):>9} {job['attempts']:>3} "
        f"{job['site'] or '-':12.12} {job['chars']:>7} {_seconds(job['duration_s']):>7} "
        f"{_seconds(job['first_audio_s']):>6} {_seconds(job['synthesis_s']):>7}  {what}"
    )


def cmd_jobs(args: argparse.Namespace) -> int:
    from listen_service import create_app
    from listen_service.errors import ApiError
    from listen_service.ops import jobs

    app = create_app()
    with app.app_context():
        try:
            if args.action == "list":
                found = jobs.rows(args.status, args.site, args.limit)
            else:
                command = jobs.retry if args.action == "retry" else jobs.cancel
                found = [jobs.row(command(args.id), time.time())]
        except ApiError as exc:
            print(f"listen-service: {exc.code}: {exc.message}", file=sys.stderr)
            return 2 if exc.status == 400 else 1
    if args.json:
        print(json.dumps(found if args.action == "list" else found[0], ensure_ascii=False))
        return 0
    print(
        f"{'id':12}  {'status':8} {'age s':>9} {'try':>3} {'site':12} {'chars':>7} "
        f"{'audio s':>7} {'ttfa s':>6} {'synth s':>7}  title or error"
    )
    for job in found:
        print(_job_line(job))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="listen-service", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="synthesise a text file (or - for stdin) to audio")
    synth.add_argument("file", help="UTF-8 text file, or - to read standard input")
    synth.add_argument("-o", "--output", help="also copy the audio to this path")
    synth.add_argument("--voice", help="voice id or name (see `listen-service voices`)")
    synth.add_argument("--lang", help="language code, used when --voice is not given (default en)")
    synth.add_argument("--rate", type=int, default=RATE_DEFAULT, help="words per minute (80-450)")
    synth.add_argument("--pitch", type=int, default=PITCH_DEFAULT, help="0-99 (default 50)")
    synth.add_argument("--volume", type=float, default=VOLUME_DEFAULT, help="0.1-1.0")
    synth.add_argument("--format", default="mp3", choices=["mp3", "ogg", "wav"])
    synth.add_argument("--bitrate", type=int, default=64, help="kbit/s (default 64)")
    synth.add_argument("--title", help="title tag for the audio")
    synth.add_argument("--artist", help="artist/site tag for the audio")
    synth.add_argument("--json", action="store_true", help="print one JSON object")
    synth.set_defaults(func=cmd_synth)

    voices = sub.add_parser("voices", help="list installed voices")
    voices.add_argument("--json", action="store_true")
    voices.set_defaults(func=cmd_voices)

    cache = sub.add_parser("cache", help="inspect or prune the audio cache")
    cache.add_argument("action", choices=["stats", "prune"])
    cache.add_argument("--max-bytes", type=int, help="prune down to this many bytes")
    cache.set_defaults(func=cmd_cache)

    normalize = sub.add_parser(
        "normalize", help="print the spoken form of each line of standard input, one per line"
    )
    normalize.add_argument("--lang", default="en", help="language code (default en)")
    normalize.add_argument(
        "--date-order",
        choices=["dmy", "mdy"],
        default="dmy",
        help="how 01/02/2024 reads: day first (dmy, default) or month first (mdy)",
    )
    whose = normalize.add_mutually_exclusive_group()
    whose.add_argument("--site", help="apply this site's stored lexicon (see docs/lexicons.md)")
    whose.add_argument("--lexicon", help="apply the lexicon in this file (JSON list or PLS XML)")
    normalize.set_defaults(func=cmd_normalize)

    extract = sub.add_parser(
        "extract",
        help="print a page's article as Listen reads it: title on the first line, then the body",
    )
    extract.add_argument("source", help="an HTML file, an http(s) URL, or - for standard input")
    extract.add_argument(
        "--json", action="store_true", help="print {title, byline, lang, blocks} as JSON"
    )
    extract.set_defaults(func=cmd_extract)

    serve = sub.add_parser(
        "serve", help="run the web app and a worker on this machine (no other server needed)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    serve.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="synthesis processes of the general worker (default: one per CPU); "
        "a worker of one process for readers' requests runs besides",
    )
    serve.add_argument("--loglevel", default="WARNING", help="worker log level")
    serve.set_defaults(func=cmd_serve)

    web = sub.add_parser("web", help="run the web app under gunicorn")
    web.add_argument("--bind", default="127.0.0.1:8000")
    web.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    web.add_argument(
        "--threads",
        type=int,
        default=16,
        help="threads per worker process (event streams take at most LISTEN_STREAMS_PER_PROCESS)",
    )
    web.set_defaults(func=cmd_web)

    worker = sub.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument(
        "--lanes",
        choices=list(WORKER_LANES),
        default="all",
        help="which requests it takes: interactive (readers'), bulk, general (both), "
        "neural (Piper jobs, with LISTEN_NEURAL_LANE), or all (interactive first)",
    )
    worker.set_defaults(func=cmd_worker)

    workers = sub.add_parser("workers", help="list worker processes (alive, and lately gone)")
    workers.add_argument("--json", action="store_true", help="print one JSON list")
    workers.set_defaults(func=cmd_workers)

    jobs = sub.add_parser(
        "jobs", help="list jobs, retry a failed one, cancel a queued or working one"
    )
    jobs_sub = jobs.add_subparsers(dest="action", required=True)
    listing = jobs_sub.add_parser("list", help="jobs newest first")
    listing.add_argument("--status", choices=["queued", "working", "ready", "failed"])
    listing.add_argument("--site", help="only this site's jobs")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    for action, help_text in (
        ("retry", "accept a failed job again from its stored request and enqueue it"),
        ("cancel", "cancel a queued job, or stop a working one within a second"),
    ):
        one = jobs_sub.add_parser(action, help=help_text)
        one.add_argument("id", help="the job id (64 hex characters)")
        one.add_argument("--json", action="store_true", help="print the job as JSON")
    jobs.set_defaults(func=cmd_jobs)

    secret = sub.add_parser(
        "site-secret",
        help="make a site's secret key and the LISTEN_SITE_ADMIN_TOKENS entry that holds its hash",
    )
    secret.add_argument("site", help="the site's name, as in LISTEN_SITE_KEYS")
    secret.set_defaults(func=cmd_site_secret)
    return parser


def cmd_site_secret(args: argparse.Namespace) -> int:
    """A fresh secret for ``args.site``: printed once, kept nowhere but in its hash."""
    import secrets

    site = args.site.strip()
    if not site or "," in site or ":" in site:
        print("listen-service: error: a site name holds no ',' or ':'", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(32)
    print(f"secret key for {site} (give it to the site; it is not stored): {token}")
    print(f"add to LISTEN_SITE_ADMIN_TOKENS: {site}:{config.secret_digest(token)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"listen-service: error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"listen-service: configuration error: {exc}", file=sys.stderr)
        return 2
    except ListenError as exc:
        print(f"listen-service: synthesis failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
