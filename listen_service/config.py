"""Every setting of the service, declared once with its default and meaning.

``load(overrides)`` layers them: defaults, then ``LISTEN_*`` environment
variables, then explicit overrides (tests, the CLI). Nothing else in the code
base reads the environment for these.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from audio_cache import AudioCache
from audio_cache.store import default_data_dir
from workers.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    kind: type
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "LISTEN_DATA_DIR",
        None,
        Path,
        "where audio, the embedded broker and job records live (default: ~/.local/share/listen)",
    ),
    Setting(
        "LISTEN_BROKER_URL",
        "",
        str,
        "Celery broker; empty = embedded filesystem broker under the data dir; redis://… for production",
    ),
    Setting(
        "LISTEN_REDIS_URL",
        "",
        str,
        "Redis for job records, locks and site lexicons; default: LISTEN_BROKER_URL (redis://, rediss:// or unix://…?db=N) with the next DB number (/0 → /1), so flushing the broker's DB keeps the jobs; must be set for a broker on /15 or a redis+socket:// one",
    ),
    Setting(
        "LISTEN_CACHE_MAX_BYTES",
        0,
        int,
        "cap on the audio cache size in bytes, LRU-evicted; 0 = unlimited",
    ),
    Setting(
        "LISTEN_MAX_CHARS", 100_000, int, "longest text accepted, in characters (longer → 413)"
    ),
    Setting(
        "LISTEN_MAX_BODY_BYTES",
        1_000_000,
        int,
        "largest request body accepted, in bytes (larger → 413)",
    ),
    Setting(
        "LISTEN_FETCH_TIMEOUT_SECONDS",
        10.0,
        float,
        "a url request's whole fetch (name lookup, connect, redirects, headers, body) must end within this (else 422 fetch_timeout); it runs inside the web request",
    ),
    Setting(
        "LISTEN_FETCH_MAX_BYTES",
        5_000_000,
        int,
        "largest page a url request may fetch, in bytes, enforced while reading (larger → 413 page_too_large)",
    ),
    Setting(
        "LISTEN_FETCH_ALLOW_PRIVATE",
        False,
        bool,
        "let url requests fetch loopback, private, link-local and reserved addresses (an SSRF guard refuses them by default: 422 url_not_allowed); for tests and intranets only",
    ),
    Setting(
        "LISTEN_MIN_FREE_BYTES",
        100_000_000,
        int,
        "below this much free space on the data directory's disk, new jobs get 507 and /healthz 503",
    ),
    Setting(
        "LISTEN_STALE_SECONDS",
        120.0,
        float,
        "a queued job silent this long whose message is not in the broker is enqueued again",
    ),
    Setting(
        "LISTEN_LEASE_SECONDS",
        6.0,
        float,
        "a worker's hold on a running job, renewed every quarter of it; a dead worker's job is taken over this long after its last renewal",
    ),
    Setting(
        "LISTEN_SWEEP_SECONDS",
        10.0,
        float,
        "how often each worker looks for lost jobs (no message, no live worker) and enqueues them again; also at worker start",
    ),
    Setting(
        "LISTEN_JOB_RECORD_SECONDS",
        604_800.0,
        float,
        "records of ready and failed jobs are removed this long after their last change; a queued or working job's only once abandoned (no sign of life for this long and at least 30 times LISTEN_STALE_SECONDS)",
    ),
    Setting(
        "LISTEN_LOG_FORMAT",
        "text",
        str,
        "log lines of the web app and the workers: text, or json (one JSON object per line, with job_id and site on lines about a job)",
    ),
    Setting(
        "LISTEN_JOB_MAX_ATTEMPTS",
        6,
        int,
        "a job started this many times without finishing (retries and worker crashes) is failed",
    ),
    Setting(
        "LISTEN_SITE_MAX_QUEUED",
        100,
        int,
        "unfinished jobs one site (of LISTEN_SITE_KEYS) may have from its pages, and as many again from its publisher (secret key), counted apart; more → 429 queue_full; 0 = no cap",
    ),
    Setting(
        "LISTEN_MAX_QUEUED",
        1000,
        int,
        "unfinished jobs of all sites and of clients without a site together; more → 429 queue_full; 0 = no cap",
    ),
    Setting("LISTEN_WAIT_MAX_SECONDS", 30.0, float, "cap on ?wait= long polls of job status"),
    Setting(
        "LISTEN_SSE_MAX_SECONDS",
        55.0,
        float,
        "an event stream is closed after this long, freeing its web thread (EventSource reconnects by itself)",
    ),
    Setting(
        "LISTEN_STREAMS_PER_PROCESS",
        8,
        int,
        "event streams and ?wait= long polls one web process holds open at once; more are answered at once with the job's current state (keep it below the web threads)",
    ),
    Setting(
        "LISTEN_STREAMS_PER_CLIENT",
        2,
        int,
        "event streams and long polls one client address may hold open at once, per web process; more are answered at once",
    ),
    Setting(
        "LISTEN_RATE_LIMIT_POST",
        "30/minute;300/hour",
        str,
        "POST /api/v1/listen per client address, as 'N/second', 'N/minute', 'N/hour' or 'N/day' (';' joins several; empty = no limit); over it → 429 with Retry-After",
    ),
    Setting(
        "LISTEN_RATE_LIMIT_STREAMS",
        "600/minute",
        str,
        "event streams plus ?wait= long polls per client address, in the same syntax (empty = no limit)",
    ),
    Setting(
        "LISTEN_RATE_LIMIT_SITE",
        "600/minute",
        str,
        "per site key (X-Listen-Key): POST /api/v1/listen, and separately streams and long polls that carry the key (empty = no limit)",
    ),
    Setting(
        "LISTEN_RATE_LIMIT_EVENTS",
        "120/minute",
        str,
        "listening events (POST /api/v1/events) per client address, in the same syntax (empty = no limit)",
    ),
    Setting(
        "LISTEN_RATE_LIMIT_FEEDS",
        "60/minute",
        str,
        "podcast feeds (GET /feeds/<site>.xml) per client address, in the same syntax (empty = no limit); podcast apps poll every few minutes to hours",
    ),
    Setting(
        "LISTEN_RATE_LIMIT_SITE_EVENTS",
        "6000/minute",
        str,
        "listening events per site (the key in each event), in the same syntax (empty = no limit)",
    ),
    Setting(
        "LISTEN_ANALYTICS",
        True,
        bool,
        "count listening events (plays, 25/50/75/100 % heard, speed changes, downloads) per site and article, counters only; off = POST /api/v1/events answers 403 analytics_off and players send nothing",
    ),
    Setting(
        "LISTEN_ANALYTICS_OFF_SITES",
        "",
        str,
        "comma-separated sites (of LISTEN_SITE_KEYS) that switched listening analytics off: their players send no events and the server counts none",
    ),
    Setting(
        "LISTEN_PROXY_HOPS",
        0,
        int,
        "trusted reverse proxies in front of Listen: the client address (for rate limits) is taken from X-Forwarded-For, and the scheme of embed links from X-Forwarded-Proto, that many hops back; 0 = the connecting address and scheme",
    ),
    Setting(
        "LISTEN_TASK_SOFT_TIME_LIMIT",
        900.0,
        float,
        "seconds before a synthesis task is asked to stop (then retried)",
    ),
    Setting(
        "LISTEN_TASK_TIME_LIMIT",
        960.0,
        float,
        "seconds before a synthesis task's process is killed",
    ),
    Setting(
        "LISTEN_TASK_MAX_RETRIES", 3, int, "retries of a task that failed for a transient reason"
    ),
    Setting(
        "LISTEN_LIVE_STALE_SECONDS",
        5.0,
        float,
        "a stream of audio still being made ends when its file has not grown for this long (its worker died); a GET of a queued job's audio waits this long for a worker to start it",
    ),
    Setting(
        "LISTEN_SENDFILE_HEADER",
        "",
        str,
        "'X-Accel-Redirect' (nginx) or 'X-Sendfile' (Apache) to hand audio files to the front server; empty = Flask sends them",
    ),
    Setting(
        "LISTEN_SENDFILE_PREFIX",
        "/_listen_audio",
        str,
        "internal URL prefix under which the front server maps <data dir>/audio (X-Accel-Redirect only)",
    ),
    Setting(
        "LISTEN_ESPEAK",
        "auto",
        str,
        "espeak-ng library: 'system' (Debian's), 'bundled' (espeakng-loader's) or 'auto' (system first); read from the environment by each process",
    ),
    Setting(
        "LISTEN_DEFAULT_VOICE",
        "",
        str,
        "voice id for requests that name none, e.g. piper:en_US-joe-medium (see GET /api/v1/voices); its language's paragraphs are read by it, others by espeak-ng's voice for theirs; empty = by the page's language, as before",
    ),
    Setting(
        "LISTEN_SITE_VOICES",
        "",
        str,
        "each site's own default voice, comma-separated site:voice pairs (news:piper:en_US-joe-medium); a request with that site's key that names no voice gets it, before LISTEN_DEFAULT_VOICE; each site must be in LISTEN_SITE_KEYS",
    ),
    Setting(
        "LISTEN_VOICES_DIR",
        "",
        str,
        "folder of Piper voices (NAME.onnx beside NAME.onnx.json), offered as piper:NAME beside those of installed voice packages; needs the neural extra; read by each web and worker process at start",
    ),
    Setting(
        "LISTEN_NEURAL_LANE",
        False,
        bool,
        "jobs read by a Piper voice go to a lane of their own (Celery queue listen.neural), for GPU workers (listen-service worker --lanes neural) beside CPU workers (--lanes general); off = they go by priority like any job; on needs a worker of that lane, or they wait",
    ),
    Setting(
        "LISTEN_PIPER_CUDA",
        False,
        bool,
        "run Piper voices on the GPU: needs onnxruntime-gpu installed in place of onnxruntime and a CUDA device; without them the worker logs a warning and uses the CPU; set it on GPU workers only (docs/operations.md: a GPU worker on its own queue)",
    ),
    Setting(
        "LISTEN_PIPER_MMAP_BYTES",
        4 << 20,
        int,
        "in workers that load a Piper voice, memory blocks this large or larger are given back to the system as soon as they are freed (glibc's M_MMAP_THRESHOLD); the default costs 1.07 times the time for 0.81 times the peak, with the huge pages workers are started with (docs/benchmarks.md), lower saves more (128 KB: about 420 MB, more time), 0 = glibc's own adaptive threshold (the highest peak)",
    ),
    Setting(
        "LISTEN_OPS_TOKEN",
        "",
        str,
        "secret token (16+ characters) for the operator's API and console under /api/v1/ops and /ops, sent as Authorization: Bearer; empty = both disabled (404)",
    ),
    Setting(
        "LISTEN_OPS_SESSION_SECONDS",
        43_200,
        int,
        "how long a login to the /ops console lasts (its signed cookie); changing LISTEN_OPS_TOKEN ends every login at once",
    ),
    Setting(
        "LISTEN_OPS_REFRESH_SECONDS",
        10,
        int,
        "the /ops console reloads itself this often (0 = never; ?refresh=off pauses one page)",
    ),
    Setting(
        "LISTEN_FLOWER_URL",
        "",
        str,
        "URL of a Flower dashboard for these workers (Redis mode); the /ops console links to it when set",
    ),
    Setting(
        "LISTEN_METRICS_DIR",
        "",
        str,
        "directory for the metrics files of each web's and worker's processes (prometheus_client's multiprocess mode), one subdirectory per process group; keep it on tmpfs or a local disk other than the data directory's (a process whose mapped metrics file cannot grow dies); empty = /dev/shm/listen-metrics-<hash of the data dir> (else the temp dir)",
    ),
    Setting(
        "LISTEN_WORKER_METRICS_PORT",
        0,
        int,
        "port on which each worker serves its own /metrics, for workers on machines without a web; 0 = no port, a web's /metrics on the same host includes the workers' figures (always so under serve)",
    ),
    Setting(
        "LISTEN_WORKER_HEARTBEAT_SECONDS",
        5.0,
        float,
        "how often each worker process writes its heartbeat (node, pid, current job) to the job store",
    ),
    Setting(
        "LISTEN_WORKER_STALE_SECONDS",
        30.0,
        float,
        "a worker process whose last heartbeat is older than this is not alive; with none alive /healthz is 503",
    ),
    Setting(
        "LISTEN_HEALTH_WINDOW_SECONDS",
        600.0,
        float,
        "/healthz judges the failure rate of the jobs that ended in this many recent seconds",
    ),
    Setting(
        "LISTEN_HEALTH_FAILURE_RATIO",
        0.8,
        float,
        "/healthz is 503 when at least this share of the jobs that ended in the window failed (once 5 or more ended); 1.0 = only when all did",
    ),
    Setting(
        "LISTEN_DATE_ORDER",
        "dmy",
        str,
        "how numeric dates such as 03/04/2024 are read: 'dmy' (3 April, as in Hong Kong and Britain) or 'mdy' (March 4, as in the US); see docs/normalisation.md",
    ),
    Setting(
        "LISTEN_TRADITIONAL_CHINESE",
        "yue",
        str,
        "spoken language for Traditional Chinese text that no region (zh-HK → yue, zh-TW → cmn) places: 'yue' (Cantonese) or 'cmn' (Mandarin); see docs/languages.md",
    ),
    Setting(
        "LISTEN_FFMPEG",
        "auto",
        str,
        "ffmpeg binary: 'system', 'bundled' (imageio-ffmpeg's), 'auto' (system first) or a path; read from the environment by each process",
    ),
    Setting(
        "LISTEN_ALLOWED_ORIGINS",
        "",
        str,
        "comma-separated origins (https://news.example) whose pages may call the API and frame /embed; empty = this server's own pages only",
    ),
    Setting(
        "LISTEN_SITE_KEYS",
        "",
        str,
        "comma-separated site:key pairs; when set, POST /api/v1/listen needs a known key (X-Listen-Key header; public identifiers, not secrets) and the site names the audio's artist tag (a different site field → 422)",
    ),
    Setting(
        "LISTEN_SITE_ADMIN_TOKENS",
        "",
        str,
        "each site's secret keys, comma-separated site:key or (better) site:sha256:<hex of the key> pairs as `listen-service site-secret SITE` prints them; keys of 16+ characters, not a site key, kept only as their SHA-256; sent as Authorization: Bearer, a key may use the publisher API (/api/v1/sites/<site>/articles) and read and replace the site's pronunciation lexicon; each site must be in LISTEN_SITE_KEYS; empty = no key is accepted (403)",
    ),
    Setting(
        "LISTEN_SITE_FEEDS",
        "",
        str,
        'podcast feeds at /feeds/<site>.xml, as a JSON object: {"<site>": {"title": …, "link": "https://…", "description"?: …, "language"?: "en", "image"?: "https://…/art.png" (1400-3000 px square), "author"?: …, "category"?: …, "explicit"?: false}}; each site must be in LISTEN_SITE_KEYS; a site not named has no feed (404)',
    ),
    Setting(
        "LISTEN_PUBLIC_URL",
        "",
        str,
        "absolute base URL of every link the service gives (audio, timings, status, embed snippets, feeds); empty = from the request's scheme and host",
    ),
    Setting(
        "LISTEN_DEMO_SITE",
        "",
        str,
        "a site named in LISTEN_SITE_KEYS whose key the demo page at / shows and posts with (so make it a site of its own); empty = the demo shows no key",
    ),
    Setting(
        "LISTEN_WEBHOOK_ATTEMPTS",
        8,
        int,
        "attempts at one webhook delivery (the first and its retries) before it is given up and logged as gave_up",
    ),
    Setting(
        "LISTEN_WEBHOOK_RETRY_SECONDS",
        30.0,
        float,
        "wait before a webhook delivery's first retry; doubled for each further one, at most an hour (8 attempts: about an hour in all)",
    ),
    Setting(
        "LISTEN_WEBHOOK_TIMEOUT_SECONDS",
        5.0,
        float,
        "a webhook delivery's whole POST (name lookup, connect, answer) must end within this, else it is retried",
    ),
    Setting(
        "LISTEN_WEBHOOK_ALLOW_PRIVATE",
        False,
        bool,
        "let webhooks be sent to loopback, private, link-local and reserved addresses (refused by default, as for url requests); for tests and intranets only",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _convert(setting: Setting, raw: Any) -> Any:
    if raw is None or isinstance(raw, setting.kind):
        return raw
    if setting.kind is bool:
        flag = str(raw).strip().lower()
        if flag in _TRUE or flag in _FALSE:
            return flag in _TRUE
        raise ConfigError(f"{setting.name}={raw!r} is not a valid bool (1/0, true/false)")
    try:
        return setting.kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{setting.name}={raw!r} is not a valid {setting.kind.__name__}") from exc


# The request rates (listen_service.limits applies them, in this order).
RATE_SETTINGS = (
    "LISTEN_RATE_LIMIT_POST",
    "LISTEN_RATE_LIMIT_STREAMS",
    "LISTEN_RATE_LIMIT_SITE",
    "LISTEN_RATE_LIMIT_EVENTS",
    "LISTEN_RATE_LIMIT_SITE_EVENTS",
    "LISTEN_RATE_LIMIT_FEEDS",
)
# Settings whose empty value means something (no limit) rather than "the default".
EMPTY_IS_A_VALUE = frozenset(RATE_SETTINGS)


def load(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults ← environment ← overrides, converted and checked."""
    env = os.environ if env is None else env
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        value: Any = setting.default
        raw = env.get(setting.name)
        if raw is not None and (raw.strip() or setting.name in EMPTY_IS_A_VALUE):
            value = _convert(setting, raw.strip())
        config[setting.name] = value
    for name, value in (overrides or {}).items():
        config[name] = _convert(_BY_NAME[name], value) if name in _BY_NAME else value
    if config["LISTEN_DATA_DIR"] is None:
        config["LISTEN_DATA_DIR"] = default_data_dir(env)
    config["LISTEN_DATA_DIR"] = Path(config["LISTEN_DATA_DIR"]).expanduser().resolve()
    broker = config["LISTEN_BROKER_URL"]
    if not config["LISTEN_REDIS_URL"]:
        if broker.startswith(("redis://", "rediss://", "unix://")):
            config["LISTEN_REDIS_URL"] = next_db(broker)
        elif broker.startswith(("redis+socket://", "socket://")):
            raise ConfigError(
                "LISTEN_BROKER_URL: cannot derive the job store from a redis+socket:// broker; "
                "set LISTEN_REDIS_URL (e.g. unix:///run/redis.sock?db=1)"
            )
    config["LISTEN_ALLOWED_ORIGINS"] = _origins(config["LISTEN_ALLOWED_ORIGINS"])
    config["LISTEN_SITE_KEYS"] = _site_keys(config["LISTEN_SITE_KEYS"])
    config["LISTEN_SITE_ADMIN_TOKENS"] = _admin_tokens(
        config["LISTEN_SITE_ADMIN_TOKENS"], config["LISTEN_SITE_KEYS"]
    )
    site_feeds(config)  # kept as written (JSON); checked here, read by publishers.feed
    site_voices(config)  # kept as written; checked here, read by jobflow
    config["LISTEN_ANALYTICS_OFF_SITES"] = _off_sites(
        config["LISTEN_ANALYTICS_OFF_SITES"], config["LISTEN_SITE_KEYS"]
    )
    demo_site = config["LISTEN_DEMO_SITE"]
    if demo_site and demo_site not in config["LISTEN_SITE_KEYS"].values():
        raise ConfigError(f"LISTEN_DEMO_SITE: {demo_site!r} is not a site in LISTEN_SITE_KEYS")
    if config["LISTEN_OPS_TOKEN"] and len(config["LISTEN_OPS_TOKEN"]) < 16:
        raise ConfigError("LISTEN_OPS_TOKEN must be at least 16 characters (or empty: off)")
    if config["LISTEN_OPS_SESSION_SECONDS"] < 60:
        raise ConfigError("LISTEN_OPS_SESSION_SECONDS must be at least 60")
    if config["LISTEN_OPS_REFRESH_SECONDS"] < 0:
        raise ConfigError("LISTEN_OPS_REFRESH_SECONDS must be >= 0 (0: never)")
    if not 0 < config["LISTEN_WORKER_HEARTBEAT_SECONDS"] < config["LISTEN_WORKER_STALE_SECONDS"]:
        raise ConfigError(
            "LISTEN_WORKER_HEARTBEAT_SECONDS must be above 0 and below LISTEN_WORKER_STALE_SECONDS"
        )
    if not 0 < config["LISTEN_HEALTH_FAILURE_RATIO"] <= 1:
        raise ConfigError("LISTEN_HEALTH_FAILURE_RATIO must be above 0 and at most 1")
    if config["LISTEN_LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError("LISTEN_LOG_FORMAT must be text or json")
    if not config["LISTEN_JOB_RECORD_SECONDS"] > 0:
        raise ConfigError("LISTEN_JOB_RECORD_SECONDS must be > 0")
    if config["LISTEN_DATE_ORDER"] not in ("dmy", "mdy"):
        raise ConfigError("LISTEN_DATE_ORDER must be dmy or mdy")
    if config["LISTEN_TRADITIONAL_CHINESE"] not in ("yue", "cmn"):
        raise ConfigError("LISTEN_TRADITIONAL_CHINESE must be yue or cmn")
    if config["LISTEN_SENDFILE_HEADER"] not in ("", "X-Accel-Redirect", "X-Sendfile"):
        raise ConfigError("LISTEN_SENDFILE_HEADER must be empty, X-Accel-Redirect or X-Sendfile")
    return config


# Databases a default Redis has (its "databases 16"): /0 to /15.
REDIS_MAX_DB = 15


def next_db(url: str) -> str:
    """The Redis URL of the database after ``url``'s (``redis://h/0`` → ``redis://h/1``).

    ``unix://`` URLs name the database in ``?db=`` (their path is the socket's).
    ``ConfigError`` when the next database would be past /15, which a default
    Redis lacks: the operator must then choose one in LISTEN_REDIS_URL.
    """
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    unix = parts.scheme == "unix"
    raw = query.pop("db", [""])[0] or ("" if unix else parts.path.strip("/")) or "0"
    try:
        db = int(raw)
    except ValueError:
        raise ConfigError(f"LISTEN_BROKER_URL: {raw!r} is not a Redis database number") from None
    if db + 1 > REDIS_MAX_DB:
        raise ConfigError(
            f"LISTEN_BROKER_URL uses Redis database {db}, so the job store would be on "
            f"database {db + 1}, which a default Redis lacks (it has 0-{REDIS_MAX_DB}); "
            "set LISTEN_REDIS_URL to the job store's URL (e.g. the broker's on another "
            "database)"
        )
    if unix:
        query["db"] = [str(db + 1)]
        # Spelled out: urlunsplit drops the "//" of an empty host (unix:/path).
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query, doseq=True)}"
    return urlunsplit(parts._replace(path=f"/{db + 1}", query=urlencode(query, doseq=True)))


def _origins(raw: str | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(raw, tuple):
        return raw
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        scheme, sep, host = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not host or "/" in host:
            raise ConfigError(
                f"LISTEN_ALLOWED_ORIGINS: {origin!r} is not an origin like https://host"
            )
    return origins


def _site_keys(raw: str | dict[str, str]) -> dict[str, str]:
    """``site:key,…`` → {key: site}."""
    return _pairs("LISTEN_SITE_KEYS", raw, 8)


def _pairs(name: str, raw: str | dict[str, str], shortest: int) -> dict[str, str]:
    """``site:secret,…`` → {secret: site}; each secret ``shortest`` characters or more."""
    if isinstance(raw, dict):
        return raw
    keys: dict[str, str] = {}
    for pair in (p.strip() for p in raw.split(",") if p.strip()):
        site, sep, key = pair.partition(":")
        if not sep or not site.strip() or len(key.strip()) < shortest:
            raise ConfigError(
                f"{name}: {pair!r} must be site:key with a key of {shortest} or more characters"
            )
        keys[key.strip()] = site.strip()
    return keys


ADMIN_TOKEN_MIN = 16


def _off_sites(raw: str | tuple[str, ...], site_keys: dict[str, str]) -> tuple[str, ...]:
    if isinstance(raw, tuple):
        return raw
    sites = tuple(s.strip() for s in raw.split(",") if s.strip())
    for site in sites:
        if site not in site_keys.values():
            raise ConfigError(
                f"LISTEN_ANALYTICS_OFF_SITES: {site!r} is not a site in LISTEN_SITE_KEYS"
            )
    return sites


FEED_FIELDS = {
    "title",
    "link",
    "description",
    "language",
    "image",
    "author",
    "category",
    "explicit",
}


def site_voices(config: Mapping[str, Any]) -> dict[str, str]:
    """``LISTEN_SITE_VOICES`` read: {site: its default voice}; ``ConfigError`` if wrong.

    A voice id may hold a colon (``piper:NAME``): a pair splits at its first.
    """
    voices: dict[str, str] = {}
    for pair in (p.strip() for p in config["LISTEN_SITE_VOICES"].split(",") if p.strip()):
        site, _, voice = (part.strip() for part in pair.partition(":"))
        if not site or not voice:
            raise ConfigError(f"LISTEN_SITE_VOICES: {pair!r} must be site:voice")
        if site not in config["LISTEN_SITE_KEYS"].values():
            raise ConfigError(f"LISTEN_SITE_VOICES: {site!r} is not a site in LISTEN_SITE_KEYS")
        voices[site] = voice
    return voices


def site_feeds(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``LISTEN_SITE_FEEDS`` read: {site: its feed's settings}; ``ConfigError`` if wrong."""
    raw: str = config["LISTEN_SITE_FEEDS"]
    if not raw.strip():
        return {}
    try:
        feeds = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"LISTEN_SITE_FEEDS is not JSON: {exc}") from None
    if not isinstance(feeds, dict):
        raise ConfigError("LISTEN_SITE_FEEDS must be a JSON object of sites")
    for site, feed in feeds.items():
        if site not in config["LISTEN_SITE_KEYS"].values():
            raise ConfigError(f"LISTEN_SITE_FEEDS: {site!r} is not a site in LISTEN_SITE_KEYS")
        if not isinstance(feed, dict) or not isinstance(feed.get("title"), str):
            raise ConfigError(f"LISTEN_SITE_FEEDS: the feed of {site!r} needs a title")
        unknown = set(feed) - FEED_FIELDS
        if unknown:
            raise ConfigError(f"LISTEN_SITE_FEEDS: unknown field(s) {sorted(unknown)} for {site!r}")
        for field in ("link", "image"):
            if field in feed and not str(feed[field]).startswith(("https://", "http://")):
                raise ConfigError(
                    f"LISTEN_SITE_FEEDS: the {field} of {site!r} must be an http(s) URL"
                )
    return feeds


def secret_digest(secret: str) -> str:
    """How a site's secret key is kept: ``sha256:<hex>`` of it, never the key itself."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _admin_tokens(raw: str | dict[str, str], site_keys: dict[str, str]) -> dict[str, str]:
    """``site:token`` or ``site:sha256:<hex>``, … → {digest: site}, each site one that
    posts (LISTEN_SITE_KEYS). Plain tokens are hashed as they are read: only their
    digests stay in the configuration (and reach child processes)."""
    tokens = _pairs("LISTEN_SITE_ADMIN_TOKENS", raw, ADMIN_TOKEN_MIN)
    public = {secret_digest(key) for key in site_keys}
    digests: dict[str, str] = {}
    for token, site in tokens.items():
        if site not in site_keys.values():
            # Lexicons apply to a site's posts, which only its key identifies.
            raise ConfigError(
                f"LISTEN_SITE_ADMIN_TOKENS: {site!r} is not a site in LISTEN_SITE_KEYS"
            )
        digest = token if _DIGEST.fullmatch(token) else secret_digest(token)
        if digest in public:
            raise ConfigError(
                f"LISTEN_SITE_ADMIN_TOKENS: the token of {site!r} is a site key, which is public"
            )
        digests[digest] = site
    return digests


def to_env(config: Mapping[str, Any]) -> dict[str, str]:
    """The settings as ``LISTEN_*`` environment strings, for a child process."""
    env: dict[str, str] = {}
    for setting in SETTINGS:
        value = config.get(setting.name)
        if isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, dict):
            value = ",".join(f"{site}:{key}" for key, site in value.items())
        if value not in (None, ""):
            env[setting.name] = str(value)
    return env


def open_cache(config: Mapping[str, Any]) -> AudioCache:
    """The audio cache these settings describe (one place, for the app and the CLI)."""
    return AudioCache(config["LISTEN_DATA_DIR"], max_bytes=config["LISTEN_CACHE_MAX_BYTES"] or None)


def embedded(config: Mapping[str, Any]) -> bool:
    """True when no broker is configured: the single-machine default."""
    return not config["LISTEN_BROKER_URL"]
