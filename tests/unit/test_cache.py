"""The audio cache: keys, layout, atomic puts, corruption handling, eviction, concurrency."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import audio_cache.store
from audio_cache import AudioCache, CacheStats, Entry, cache_key, is_valid_key
from audio_cache._fs import sha256_of
from audio_cache.keys import key_path_parts

KEY_FIELDS: dict[str, Any] = {
    "text": "Hello, world. Second sentence.",
    "voice": "en-gb",
    "rate": 170,
    "pitch": 50,
    "volume": 1.0,
    "fmt": "mp3",
    "bitrate": "64k",
    "pipeline_version": "1",
}
AUDIO = b"ID3" + bytes(range(256)) * 40


def key_for(n: int) -> str:
    return cache_key(**{**KEY_FIELDS, "text": f"article {n}"})


def put_bytes(cache: AudioCache, key: str, data: bytes = AUDIO, **kw: Any) -> Entry:
    tmp = cache.temp_path(key, ".mp3")
    tmp.write_bytes(data)
    kw.setdefault("fmt", "mp3")
    kw.setdefault("duration_s", 2.5)
    return cache.put(key, tmp, **kw)


def temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".tmp-*"))


def set_mtime(path: Path, t: float) -> None:
    os.utime(path, (t, t))


def sidecar(entry: Entry) -> Path:
    return entry.audio_path.with_suffix(".json")


def disk_size(entry: Entry) -> int:
    return entry.audio_path.stat().st_size + sidecar(entry).stat().st_size


@pytest.fixture
def cache(tmp_path: Path) -> AudioCache:
    return AudioCache(tmp_path / "data")


# -- keys ----------------------------------------------------------------------


def test_key_is_stable_hex_sha256() -> None:
    key = cache_key(**KEY_FIELDS)
    assert key == cache_key(**dict(reversed(list(KEY_FIELDS.items()))))
    assert is_valid_key(key)
    # Pinned: changing the encoding silently orphans every cached file, so it
    # must be a deliberate change (bump the schema tag) that updates this test.
    assert key == "1fd6d731c84ee9924fef1c9fcb25101b261a7f87c331c7186a5e7cdabe56b22d"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "Hello, world. Second sentence!"),
        ("voice", "en-us"),
        ("rate", 171),
        ("pitch", 49),
        ("volume", 0.9),
        ("fmt", "ogg"),
        ("bitrate", "96k"),
        ("pipeline_version", "2"),
        ("tags", {"title": "A title"}),
    ],
)
def test_key_changes_with_every_field(field: str, value: Any) -> None:
    assert cache_key(**{**KEY_FIELDS, field: value}) != cache_key(**KEY_FIELDS)


def test_key_encoding_is_unambiguous_and_normalises_numbers() -> None:
    a = cache_key(**{**KEY_FIELDS, "text": "a", "voice": "b,c"})
    b = cache_key(**{**KEY_FIELDS, "text": "a,b", "voice": "c"})
    assert a != b
    assert cache_key(**{**KEY_FIELDS, "volume": 1}) == cache_key(**{**KEY_FIELDS, "volume": 1.0})
    assert is_valid_key(cache_key(**{**KEY_FIELDS, "text": "caf\u00e9 \ud800 \u65e5\u672c"}))
    with pytest.raises(ValueError):
        cache_key(**{**KEY_FIELDS, "volume": float("nan")})


@pytest.mark.parametrize(
    "bad",
    ["", "../x", "a" * 63, "a" * 65, "A" * 64, "g" * 64, "a" * 63 + "\n", "../" + "a" * 61],
)
def test_is_valid_key_rejects(bad: str) -> None:
    assert not is_valid_key(bad)
    with pytest.raises(ValueError):
        key_path_parts(bad)


def test_key_path_parts_nest_two_levels() -> None:
    key = "ab" + "cd" + "0" * 60
    assert key_path_parts(key) == ("ab", "cd", key)


# -- put / get -----------------------------------------------------------------


def test_put_then_get_roundtrip_in_nested_layout(cache: AudioCache) -> None:
    key = key_for(1)
    timings = [{"i": 0, "start": 0.0, "end": 1.2}, {"i": 1, "start": 1.2, "end": 2.5}]
    put = put_bytes(cache, key, title="Caf\u00e9", meta={"timings": timings, "voice": "en-gb"})
    got = cache.get(key)

    assert got is not None
    assert got.audio_path == cache.root / "audio" / key[:2] / key[2:4] / f"{key}.mp3"
    assert sidecar(got).is_file()
    assert got.audio_path.read_bytes() == AUDIO
    assert got.bytes == len(AUDIO) == put.bytes
    assert got.content_hash == hashlib.sha256(AUDIO).hexdigest() == put.content_hash
    assert (got.fmt, got.duration_s, got.title) == ("mp3", 2.5, "Caf\u00e9")
    assert got.meta["timings"] == timings
    assert got.meta["voice"] == "en-gb"
    assert got.created == put.created


def test_caller_meta_cannot_override_computed_fields(cache: AudioCache) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key, meta={"bytes": 1, "key": "x", "content_hash": "0", "rate": 9})
    got = cache.get(key)
    assert got is not None
    assert got.bytes == entry.bytes == len(AUDIO)
    assert got.meta["key"] == key
    assert got.meta["rate"] == 9


def test_miss_for_unknown_key_creates_nothing(cache: AudioCache) -> None:
    assert cache.get(key_for(1)) is None
    assert not cache.has(key_for(1))
    assert list((cache.root / "audio").iterdir()) == []


def test_get_bumps_access_time_without_rewriting_sidecar_and_has_does_not(
    cache: AudioCache,
) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key)
    side = sidecar(entry)
    before = side.read_bytes(), side.stat().st_ino
    set_mtime(side, 1_000_000)

    assert cache.has(key)
    assert side.stat().st_mtime == 1_000_000

    got = cache.get(key)
    assert got is not None
    assert got.last_access > 1_000_000
    assert side.stat().st_mtime > 1_000_000
    assert (side.read_bytes(), side.stat().st_ino) == before


def test_put_from_another_directory_moves_the_source(cache: AudioCache, tmp_path: Path) -> None:
    key = key_for(1)
    source = tmp_path / "out.mp3"
    source.write_bytes(AUDIO)
    cache.put(key, source, fmt="mp3", duration_s=1.0)
    assert not source.exists()
    assert temp_files(cache.root) == []
    got = cache.get(key)
    assert got is not None and got.audio_path.read_bytes() == AUDIO


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem")
def test_put_copies_across_filesystems(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "data")
    src_dir = Path("/dev/shm")
    if src_dir.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("/dev/shm is on the same filesystem as tmp_path")
    source = src_dir / f"listen-test-{os.getpid()}.mp3"
    source.write_bytes(AUDIO)
    try:
        cache.put(key_for(1), source, fmt="mp3", duration_s=1.0)
    finally:
        source.unlink(missing_ok=True)
    assert temp_files(cache.root) == []
    got = cache.get(key_for(1))
    assert got is not None and got.audio_path.read_bytes() == AUDIO


def test_put_leaves_no_temp_files(cache: AudioCache) -> None:
    for n in range(3):
        put_bytes(cache, key_for(n))
    put_bytes(cache, key_for(0))  # overwrite an existing entry
    assert temp_files(cache.root) == []


def test_put_rejects_bad_input_before_consuming_source(cache: AudioCache) -> None:
    key = key_for(1)
    tmp = cache.temp_path(key, ".mp3")
    tmp.write_bytes(AUDIO)
    with pytest.raises(ValueError):
        cache.put(key, tmp, fmt="flac", duration_s=1.0)
    with pytest.raises(TypeError):
        cache.put(key, tmp, fmt="mp3", duration_s=1.0, meta={"x": object()})
    assert tmp.read_bytes() == AUDIO
    assert not cache.has(key)


def test_put_with_another_format_replaces_the_old_file(cache: AudioCache) -> None:
    key = key_for(1)
    old = put_bytes(cache, key)
    tmp = cache.temp_path(key, ".ogg")
    tmp.write_bytes(b"OggS" + AUDIO)
    new = cache.put(key, tmp, fmt="ogg", duration_s=1.0)
    assert not old.audio_path.exists()
    got = cache.get(key)
    assert got is not None and got.audio_path == new.audio_path and got.fmt == "ogg"


# -- corruption ----------------------------------------------------------------


def test_truncated_audio_is_a_miss_and_is_removed(cache: AudioCache) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key)
    with open(entry.audio_path, "r+b") as f:
        f.truncate(100)
    assert cache.get(key) is None
    assert not entry.audio_path.exists()
    assert not sidecar(entry).exists()


def test_flipped_byte_of_same_size_is_a_miss(tmp_path: Path) -> None:
    writer = AudioCache(tmp_path)
    key = key_for(1)
    entry = put_bytes(writer, key)
    with open(entry.audio_path, "r+b") as f:
        f.seek(500)
        byte = f.read(1)
        f.seek(500)
        f.write(bytes([byte[0] ^ 0xFF]))
    reader = AudioCache(tmp_path)  # another process: nothing memoised
    assert entry.audio_path.stat().st_size == entry.bytes
    assert reader.get(key) is None
    assert not entry.audio_path.exists()
    assert not sidecar(entry).exists()


def test_verification_is_memoised_by_file_identity(
    cache: AudioCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key)
    reader = AudioCache(cache.root)
    calls: list[int] = []
    real = sha256_of

    def counting(f: Any) -> tuple[str, int]:
        calls.append(1)
        return real(f)

    monkeypatch.setattr(audio_cache.store, "sha256_of", counting)
    for _ in range(3):
        assert reader.get(key) is not None
    assert len(calls) == 1

    # The same size but different bytes and a new mtime: hashed afresh, not trusted.
    with open(entry.audio_path, "r+b") as f:
        f.write(b"XYZ")
    st = entry.audio_path.stat()
    os.utime(entry.audio_path, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    assert reader.get(key) is None
    assert len(calls) >= 2


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({"key": "wrong"}).encode(),
    ],
)
def test_garbage_sidecar_is_a_miss_and_is_removed(cache: AudioCache, content: bytes) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key)
    sidecar(entry).write_bytes(content)
    assert not cache.has(key)
    assert not entry.audio_path.exists()
    assert not sidecar(entry).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("bytes", "4096"), ("bytes", True), ("fmt", "../../etc"), ("content_hash", "0" * 63)],
)
def test_sidecar_with_bad_field_is_a_miss(cache: AudioCache, field: str, value: Any) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key)
    data = json.loads(sidecar(entry).read_text())
    data[field] = value
    sidecar(entry).write_text(json.dumps(data))
    assert cache.get(key) is None


def test_audio_without_sidecar_is_a_miss_and_evict_removes_it_after_an_hour(
    cache: AudioCache,
) -> None:
    crashed, fresh = key_for(1), key_for(2)
    for key in (crashed, fresh):
        sidecar(put_bytes(cache, key)).unlink()  # as if the writer died before committing
    old_audio = cache.root / "audio" / crashed[:2] / crashed[2:4] / f"{crashed}.mp3"
    fresh_audio = cache.root / "audio" / fresh[:2] / fresh[2:4] / f"{fresh}.mp3"
    set_mtime(old_audio, 1_000_000)

    assert cache.get(crashed) is None
    assert not cache.has(fresh)
    assert cache.stats().entries == 0
    assert cache.evict() == []
    assert not old_audio.exists()
    assert fresh_audio.exists()  # may be a put between its two renames


def test_evict_removes_stale_temp_files_only(cache: AudioCache) -> None:
    stale = cache.temp_path(key_for(1), ".mp3")
    fresh = cache.temp_path(key_for(1), ".mp3")
    set_mtime(stale, 1_000_000)
    cache.evict()
    assert not stale.exists()
    assert fresh.exists()


# -- eviction and stats --------------------------------------------------------


def test_evict_removes_least_recently_accessed_first(cache: AudioCache) -> None:
    keys = [key_for(n) for n in range(3)]
    entries = [put_bytes(cache, k) for k in keys]
    for entry, t in zip(entries, (1_000, 3_000, 2_000), strict=True):
        set_mtime(sidecar(entry), t)
    total = cache.stats().bytes
    assert total == sum(disk_size(e) for e in entries)

    assert cache.evict(max_bytes=total - 1) == [keys[0]]
    assert cache.evict(max_bytes=disk_size(entries[1])) == [keys[2]]
    assert [cache.has(k) for k in keys] == [False, True, False]
    assert cache.evict(max_bytes=disk_size(entries[1])) == []


def test_get_saves_an_entry_from_eviction(cache: AudioCache) -> None:
    keys = [key_for(n) for n in range(3)]
    entries = [put_bytes(cache, k) for k in keys]
    for entry in entries:
        set_mtime(sidecar(entry), 1_000)
    assert cache.get(keys[1]) is not None
    assert sorted(cache.evict(max_bytes=disk_size(entries[1]))) == sorted([keys[0], keys[2]])
    assert cache.has(keys[1])


def test_cap_is_enforced_on_put(tmp_path: Path) -> None:
    probe = AudioCache(tmp_path / "probe")
    put_bytes(probe, key_for(99))
    one = probe.stats().bytes

    cache = AudioCache(tmp_path / "data", max_bytes=2 * one + one // 2)
    keys = [key_for(n) for n in range(4)]
    for n, k in enumerate(keys):
        set_mtime(sidecar(put_bytes(cache, k)), 1_000 + n)
    stats = cache.stats()
    assert cache.max_bytes is not None and stats.bytes <= cache.max_bytes
    assert [cache.has(k) for k in keys] == [False, False, True, True]


def test_put_never_evicts_the_entry_just_put(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=10)
    first, second = key_for(1), key_for(2)
    put_bytes(cache, first)
    put_bytes(cache, second)
    assert cache.has(second)
    assert not cache.has(first)


def test_on_evict_hears_how_many_entries_each_eviction_removed(tmp_path: Path) -> None:
    heard: list[int] = []
    cache = AudioCache(tmp_path, max_bytes=10, on_evict=heard.append)
    put_bytes(cache, key_for(1))
    assert heard == []  # nothing else to evict: not called with 0
    put_bytes(cache, key_for(2))
    assert heard == [1]
    cache.max_bytes = None
    put_bytes(cache, key_for(3))
    put_bytes(cache, key_for(4))
    assert sorted(cache.evict(max_bytes=0)) == sorted(key_for(n) for n in (2, 3, 4))
    assert heard == [1, 3]
    assert cache.evict(max_bytes=0) == []
    assert heard == [1, 3]


def test_a_failing_on_evict_hook_never_fails_a_put(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(count: int) -> None:
        raise RuntimeError("counter unavailable")

    cache = AudioCache(tmp_path, max_bytes=10)
    cache.on_evict = broken  # set after construction, as workers.metrics does
    put_bytes(cache, key_for(1))
    with caplog.at_level("DEBUG", logger="audio_cache.store"):
        second = put_bytes(cache, key_for(2))
    assert cache.get(second.key) is not None
    assert not cache.has(key_for(1))
    assert "on_evict hook failed" in caplog.text


def test_stats_and_entries(cache: AudioCache) -> None:
    assert cache.stats() == CacheStats(entries=0, bytes=0, max_bytes=None, root=str(cache.root))
    entries = [put_bytes(cache, key_for(n), data=AUDIO * (n + 1)) for n in range(3)]
    expected = sum(e.audio_path.stat().st_size + sidecar(e).stat().st_size for e in entries)
    assert cache.stats() == CacheStats(
        entries=3, bytes=expected, max_bytes=None, root=str(cache.root)
    )
    listed = {e.key: e for e in cache.entries()}
    assert listed.keys() == {e.key for e in entries}
    assert all(listed[e.key].bytes == e.bytes for e in entries)


def test_delete(cache: AudioCache) -> None:
    key = key_for(1)
    entry = put_bytes(cache, key)
    assert cache.delete(key)
    assert not entry.audio_path.exists() and not sidecar(entry).exists()
    assert not cache.delete(key)
    assert cache.get(key) is None


# -- configuration and validation ----------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "A" * 64, "abc", "../" + "a" * 61, "a" * 63 + "/"])
def test_every_public_method_rejects_invalid_keys(
    cache: AudioCache, tmp_path: Path, bad: str
) -> None:
    source = tmp_path / "src.mp3"
    source.write_bytes(AUDIO)
    calls: list[Callable[[], object]] = [
        lambda: cache.get(bad),
        lambda: cache.has(bad),
        lambda: cache.delete(bad),
        lambda: cache.temp_path(bad, ".mp3"),
        lambda: cache.put(bad, source, fmt="mp3", duration_s=1.0),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert source.exists()
    assert list((cache.root / "audio").iterdir()) == []


# -- concurrency ---------------------------------------------------------------

ROUNDS = 5
WRITERS = 4


def payload(writer: int, differ: bool) -> bytes:
    if not differ:
        return b"identical audio " * 20_000
    return f"writer {writer} ".encode() * (20_000 + 7 * writer)


def _writer(root: str, key: str, writer: int, differ: bool, barrier: Any, results: Any) -> None:
    """Runs in a spawned process: put the same key ROUNDS times, reading after each put."""
    try:
        cache = AudioCache(root)
        data = payload(writer, differ)
        barrier.wait()
        misses = 0
        for n in range(ROUNDS):
            tmp = cache.temp_path(key, ".mp3")
            tmp.write_bytes(data)
            cache.put(key, tmp, fmt="mp3", duration_s=1.0, meta={"writer": writer, "round": n})
            if cache.get(key) is None:
                misses += 1
        results.put(("ok", misses))
    except BaseException as exc:
        results.put(("error", repr(exc)))


@pytest.mark.parametrize("differ", [False, True], ids=["identical", "differing-bytes"])
def test_concurrent_puts_of_one_key_leave_one_valid_entry(tmp_path: Path, differ: bool) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    key = key_for(1)
    procs = [
        ctx.Process(target=_writer, args=(str(tmp_path), key, w, differ, barrier, results))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=120) for _ in procs]
    except queue.Empty:
        pytest.fail("a writer process hung or died")
    finally:
        for p in procs:
            p.join(timeout=30)
    assert outcomes == [("ok", 0)] * WRITERS
    assert [p.exitcode for p in procs] == [0] * WRITERS

    cache = AudioCache(tmp_path)  # fresh process view: verifies the full hash
    entry = cache.get(key)
    assert entry is not None
    assert entry.audio_path.read_bytes() == payload(entry.meta["writer"], differ)
    directory = entry.audio_path.parent
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [".lock", f"{key}.json", f"{key}.mp3"]
    )
    assert temp_files(tmp_path) == []
    assert cache.stats().entries == 1
