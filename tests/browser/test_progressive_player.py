"""Progressive playback in the player, on a publisher's page of another origin.

A long article plays before its job is ready, the reader seeks within the
part already made, and the end of the job only makes the duration final: the
audio element keeps its one source throughout (no reload, gap or jump). An
article whose audio outgrows the browser's media buffer goes on from the
finished file, by range requests, without a reload either.
"""

from __future__ import annotations

import html
import itertools
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from listen_service import create_app
from tests.browser.conftest import AUDIO, SHADOW, Live, Site, Tab, _serve, told
from tests.conftest import ARTICLE, ffmpeg_killed_after
from tests.service.conftest import start_worker

MAIN = "listen-button button.main"
PLAYER = "document.querySelector('listen-button')"
HIGHLIGHT = (
    "(() => { const h = CSS.highlights.get('listen-sentence');"
    " return h ? [...h][0].toString() : null; })()"
)
_pages = itertools.count()

# Installed before the press: what the audio element went through.
WATCH = f"""() => {{
    const a = {AUDIO};
    window.seen = {{emptied: 0, srcs: [], back: 0, last: 0}};
    a.addEventListener('emptied', () => window.seen.emptied++);
    a.addEventListener('loadstart', () => window.seen.srcs.push(a.currentSrc));
    a.addEventListener('timeupdate', () => {{
        if (a.currentTime < window.seen.last - 0.5 && !window.seen.seeking) window.seen.back++;
        window.seen.last = a.currentTime;
    }});
}}"""


def _page(site: Site, service: str, copies: int, attrs: str = "") -> tuple[str, str, str]:
    """A page of ``copies`` times the fixture article, distinct each time.

    Its path, its title and the text the player posts for it.
    """
    n = next(_pages)
    title = f"Progressive {n}"
    article = [" ".join(p.split()) for p in ARTICLE.read_text().split("\n\n") if p.strip()]
    paragraphs = [
        p for k in range(copies) for p in [f"Part {k + 1} of the long read number {n}.", *article]
    ]
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    path = f"/progressive-{n}.html"
    site.pages[path] = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>'
        f'<script src="{service}/player.js" defer></script></head><body>'
        f'<listen-button data-for="#story" {attrs}></listen-button>'
        f'<article id="story">{body}</article></body></html>'
    )
    return path, title, "\n\n".join(paragraphs)


def _press(tab: Tab, site: Site, live: Live, copies: int, attrs: str = "") -> None:
    """Open a new long read, watch its audio element, press Listen and wait for sound."""
    path, _, _ = _page(site, live.url, copies, attrs)
    tab.page.goto(site.origin + path)
    tab.page.wait_for_function(f"() => {AUDIO}")
    tab.page.evaluate(WATCH)
    tab.page.click(MAIN)
    tab.wait_time(0.2, timeout_s=60)


def _until_ready(live: Live, job_id: str) -> dict[str, Any]:
    """The job's body once ready; it must stay working until then."""
    deadline = time.monotonic() + 120
    while (job := live.get_json(f"/api/v1/jobs/{job_id}"))["status"] != "ready":
        assert job["status"] == "working" and time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def _player(tab: Tab) -> dict[str, Any]:
    state: dict[str, Any] = tab.page.evaluate(
        f"""(() => {{ const e = {PLAYER}, a = {AUDIO};
        return {{id: e.meta && e.meta.id, t: a.currentTime, duration: a.duration, paused: a.paused,
                 made: e.feed ? e.feed.made() : null, kept: e.feed ? e.feed.kept() : null,
                 full: !!(e.feed && e.feed.full), src: a.src, total: e.tot.textContent,
                 timings: (e.timings || []).length, said: e.live.textContent}}; }})()"""
    )
    return state


def _seek(tab: Tab, seconds: float) -> None:
    """As a reader drags the seek bar to ``seconds``."""
    tab.page.evaluate(
        f"""s => {{ window.seen.seeking = true;
            const r = {SHADOW}.querySelector('input[aria-label=Seek]');
            r.value = String(s); r.dispatchEvent(new Event('input'));
            setTimeout(() => (window.seen.seeking = false), 300); }}""",
        seconds,
    )


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def test_a_long_article_plays_while_it_is_made_and_ends_without_a_reload(
    live: Live, site: Site, tab: Tab
) -> None:
    _press(tab, site, live, copies=4)
    page = tab.page
    first = _player(tab)
    status = live.get_json(f"/api/v1/jobs/{first['id']}")
    assert status["status"] == "working", "the audio played only once the job was ready"
    assert first["src"].startswith("blob:"), first
    assert first["total"].startswith("~"), "the length shown is an estimate while it is made"

    # Highlighted in step while it is made: the sentence the timings made so far put here.
    page.wait_for_function(f"() => {HIGHLIGHT} && {PLAYER}.meta.duration_s === 0", timeout=30_000)
    posted = tab.posted[-1]["text"]
    assert tab.posted[-1].get("priority") == "interactive"

    # Seek within the part already made: it plays from there.
    target = max(1.0, first["made"] / 2)
    _seek(tab, target)
    page.wait_for_function(
        f"() => {AUDIO}.currentTime > {target + 0.5} && !{AUDIO}.paused", timeout=30_000
    )
    assert abs(_player(tab)["t"] - target) < 5

    # Finished: the same source now has the file's full duration, and the shown length is final.
    final = _until_ready(live, first["id"])["duration_s"]
    page.wait_for_function(
        f"() => Math.abs({AUDIO}.duration - {final}) < 0.2 && "
        f"{PLAYER}.tot.textContent === {json.dumps(_clock(final))}",
        timeout=30_000,
    )
    end = _player(tab)
    assert end["src"] == first["src"] and not end["paused"], end
    seen = page.evaluate("window.seen")
    assert seen["emptied"] == 0 and len(seen["srcs"]) == 1, f"the audio restarted: {seen}"
    assert seen["back"] == 0, f"the audio jumped back: {seen}"

    # The highlight follows the audio, per the finished timings.
    meta = live.meta(first["id"])
    page.evaluate(f"{AUDIO}.pause()")
    page.wait_for_timeout(150)
    now_ms = tab.audio("currentTime") * 1000
    sentence = [t for t in meta["timings"] if t["start_ms"] <= now_ms][-1]
    said = " ".join((page.evaluate(HIGHLIGHT) or "").split())
    assert said == " ".join(posted[sentence["char_start"] : sentence["char_end"]].split())


def test_audio_beyond_the_browser_buffer_comes_from_the_finished_file(
    live: Live, site: Site, tab: Tab
) -> None:
    # 320 kbit/s: about 30 MB, well over Chromium's media buffer (8-12 MB).
    _press(tab, site, live, copies=4, attrs='data-bitrate="320"')
    page = tab.page
    page.wait_for_function(f"() => {PLAYER}.feed && {PLAYER}.feed.full", timeout=60_000)
    job = _until_ready(live, _player(tab)["id"])
    page.wait_for_function(
        f"() => {PLAYER}.tot.textContent === {json.dumps(_clock(job['duration_s']))}"
    )

    # Near the end of what the live stream delivered: the rest follows by ranges.
    made = _player(tab)["made"]
    assert made < job["duration_s"] - 60, (made, job["duration_s"])
    _seek(tab, made - 3)
    page.wait_for_function(f"() => {AUDIO}.currentTime > {made + 2}", timeout=60_000)
    assert any(status == 206 for _, status in tab.ranges), tab.ranges
    state = _player(tab)
    assert state["src"].startswith("blob:") and state["made"] > made + 10, state

    # Back to the start: from the media source if it still holds it, else the file.
    _seek(tab, 0)
    page.wait_for_function(
        f"() => {AUDIO}.currentTime > 0.5 && {AUDIO}.currentTime < 10 && !{AUDIO}.paused",
        timeout=30_000,
    )


def test_a_page_that_forbids_blob_media_waits_for_the_whole_file(
    live: Live, site: Site, tab: Tab
) -> None:
    """No Media Source under this page's policy: the audio plays once made, as before."""
    path, _, _ = _page(site, live.url, copies=1)
    sources = (f"{d} {live.url}" for d in ("script-src", "connect-src", "media-src"))
    policy = "; ".join(("default-src 'self'", *sources))
    site.pages[path] = site.pages[path].replace(
        "<title>",
        f'<meta http-equiv="Content-Security-Policy" content="{policy}"><title>',
    )
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.3, timeout_s=60)
    state = _player(tab)
    assert state["src"] == f"{live.url}/audio/{state['id']}.mp3", state
    assert live.get_json(f"/api/v1/jobs/{state['id']}")["status"] == "ready"


def test_pressing_listen_on_an_article_in_progress_joins_its_job(
    live: Live, site: Site, tab: Tab
) -> None:
    """Another reader (here the API) started this article: the press plays it from the start."""
    path, title, text = _page(site, live.url, copies=4)
    job = _post(live.url, {"text": text, "title": title})
    deadline = time.monotonic() + 60
    while job["status"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.02)
        job = live.get_json(f"/api/v1/jobs/{job['id']}")
    assert job["status"] == "working", job
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.2, timeout_s=60)
    state = _player(tab)
    assert state["id"] == job["id"], "the press made a job of its own"
    assert tab.posted[-1]["text"] == text
    assert state["t"] < 5, "joined late, it still plays from the start"
    assert live.get_json(f"/api/v1/jobs/{job['id']}")["status"] == "working"


def _post(base: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/api/v1/listen", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        job: dict[str, Any] = json.load(response)
    return job


def test_a_reader_waiting_for_a_worker_sees_their_place_in_the_queue(
    site: Site, tab: Tab, tmp_path: Path
) -> None:
    """No worker runs: two readers' articles wait ahead of this one, and the player says so."""
    app = create_app({"LISTEN_DATA_DIR": str(tmp_path), "LISTEN_ALLOWED_ORIGINS": site.origin})
    base, stop = _serve(app)
    try:
        for n in range(2):
            ahead = _post(base, {"text": f"Ahead number {n}.", "priority": "interactive"})
            assert ahead["status"] == "queued"
        path, _, _ = _page(site, base, copies=1)
        tab.page.goto(site.origin + path)
        tab.page.click(MAIN)
        tab.page.wait_for_function(
            f"() => {PLAYER}.st.textContent === 'Waiting \u2014 2 articles ahead'", timeout=30_000
        )
        tab.page.evaluate(f"{PLAYER}.feed && {PLAYER}.feed.close()")
    finally:
        stop()


def test_a_job_failing_while_its_audio_plays_stops_it_and_says_so(
    site: Site, tab: Tab, tmp_path: Path
) -> None:
    """Real ffmpeg, killed three seconds in: the reader hears the part made, then is told."""
    app = create_app(
        {
            "LISTEN_DATA_DIR": str(tmp_path / "data"),
            "LISTEN_ALLOWED_ORIGINS": site.origin,
            "LISTEN_FFMPEG": str(ffmpeg_killed_after(3, tmp_path)),
            "LISTEN_TASK_MAX_RETRIES": 0,
        }
    )
    worker = start_worker(app, tmp_path / "worker.log")
    base, stop = _serve(app)
    try:
        path, _, _ = _page(site, base, copies=30)
        tab.page.goto(site.origin + path)
        tab.page.click(MAIN)
        tab.wait_time(0.2, timeout_s=60)
        tab.page.wait_for_function(f"() => {PLAYER}.state === 'error'", timeout=60_000)
        assert tab.audio("paused")
        assert "retry" in tab.shadow("root.querySelector('button.main').textContent")
        job_id = tab.audio_id()
        record = app.extensions["listen_jobs"].get(job_id)
        assert record.status == "failed"
        said = told(record.error["code"])
        assert tab.page.evaluate(f"{PLAYER}.st.textContent") == said
    finally:
        stop()
        worker.stop()


def test_a_player_taken_off_the_page_lets_go_of_its_streams(
    live: Live, site: Site, tab: Tab
) -> None:
    """Moved, it plays on; removed (a single-page app changing view), it closes its
    live audio and its job's event stream, instead of holding two connections
    to the service for the rest of the article."""
    page = tab.page
    open_now: set[str] = set()

    def opened(request: Any) -> None:
        if request.url.startswith(live.url) and (
            request.url.endswith("/events") or ".mp3" in request.url
        ):
            open_now.add(request.url)

    page.on("request", opened)
    page.on("requestfinished", lambda r: open_now.discard(r.url))
    page.on("requestfailed", lambda r: open_now.discard(r.url))
    _press(tab, site, live, copies=4)
    job_id = _player(tab)["id"]
    assert live.get_json(f"/api/v1/jobs/{job_id}")["status"] == "working"
    assert any(url.endswith("/events") for url in open_now), open_now

    page.evaluate(f"document.body.append({PLAYER})")
    moved_at = tab.audio("currentTime")
    page.wait_for_function(f"() => {AUDIO}.currentTime > {moved_at + 0.5}", timeout=10_000)
    assert any(url.endswith("/events") for url in open_now), "a move closed the streams"

    page.evaluate(f"window.gone = {PLAYER}; window.gone.remove()")
    deadline = time.monotonic() + 10
    while open_now and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert not open_now, f"still open after the player was removed: {open_now}"
    assert page.evaluate("window.gone.shadowRoot.querySelector('audio').paused")
    assert live.get_json(f"/api/v1/jobs/{job_id}")["status"] == "working"
