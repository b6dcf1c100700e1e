"""The Listen button as a reader meets it, in real Chromium against the real service."""

from __future__ import annotations

import gzip
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from listen_service import create_app, player
from listen_service.jobflow import voices
from listen_service.player import PLAYER_JS
from tests.browser.conftest import AUDIO, DOCS, SHADOW, Live, Site, Tab, _serve, told
from tests.service.conftest import start_worker
from tests.service.test_ops_jobs import break_encoder

MAIN = "listen-button button.main"
HIGHLIGHT = (
    "(() => { const h = CSS.highlights.get('listen-sentence');"
    " return h ? [...h][0].toString() : null; })()"
)
X = "\N{MULTIPLICATION SIGN}"
LABEL = f"{SHADOW}.querySelector('button.main').textContent"


def _norm(text: str) -> str:
    return " ".join(text.split())


def _sentence_at(meta: dict[str, Any], seconds: float) -> dict[str, Any]:
    ms = seconds * 1000
    return [t for t in meta["timings"] if t["start_ms"] <= ms][-1]  # type: ignore[no-any-return]


def _play_demo(live: Live, tab: Tab) -> dict[str, Any]:
    """Open the demo, press Listen, wait for sound; the audio's metadata."""
    tab.page.goto(live.url + "/")
    tab.page.click(MAIN)
    tab.wait_time(0.3)
    return live.meta(tab.audio_id())


def _highlight(tab: Tab) -> str | None:
    return tab.page.evaluate(HIGHLIGHT)  # type: ignore[no-any-return]


def _screenshots(tmp_path: Path) -> Path:
    """docs/ with LISTEN_UPDATE_SCREENSHOTS=1 (refreshes the README pictures), else a temp dir."""
    return DOCS if os.environ.get("LISTEN_UPDATE_SCREENSHOTS") == "1" else tmp_path


def test_demo_page_plays_and_highlights_the_spoken_sentence(
    live: Live, tab: Tab, tmp_path: Path
) -> None:
    shots = _screenshots(tmp_path)
    page = tab.page
    page.goto(live.url + "/")
    page.wait_for_function(f"() => {LABEL}.includes('min')")
    assert tab.shadow("root.querySelector('button.main').textContent") == "Listen · 3 min"
    assert not [u for u in tab.requests if "/api/" in u], "an estimate needs no network"
    assert page.locator("script[src$='/player.js']").get_attribute("defer") is not None
    page.screenshot(path=str(shots / "screenshot-demo.png"))

    page.click(MAIN)
    tab.wait_time(1.0)
    posted = tab.posted[0]["text"]
    assert "Hong Kong recently hosted" in posted
    # The aside and the figure are skipped; every paragraph of the body is read.
    assert "Beijing in numbers" not in posted and "Illustration" not in posted
    # The headline, outside #article-body, first; then every paragraph.
    assert posted.startswith("Hong Kong, Beijing seek win-win future\n\nHong Kong recently hosted")
    assert posted.count("\n\n") == len(page.locator("#article-body p").all())
    meta = live.meta(tab.audio_id())

    # The highlight is the sentence the timings place at the current time…
    page.evaluate(f"{AUDIO}.pause()")
    page.wait_for_timeout(150)
    now = tab.audio("currentTime")
    spoken = _sentence_at(meta, now)
    assert _norm(_highlight(tab) or "") == _norm(posted[spoken["char_start"] : spoken["char_end"]])

    # …and it moves with the audio to the next one.
    later = meta["timings"][spoken["index"] + 6]
    page.evaluate(f"{AUDIO}.currentTime = {later['start_ms'] / 1000 - 0.4}")
    page.evaluate(f"{AUDIO}.play()")
    page.wait_for_function(f"() => {AUDIO}.currentTime > {later['start_ms'] / 1000 + 0.2}")
    expected = _norm(posted[later["char_start"] : later["char_end"]])
    page.wait_for_function(
        f"() => ({HIGHLIGHT} || '').replace(/\\s+/g, ' ').trim() === {json.dumps(expected)}"
    )
    page.wait_for_timeout(800)  # let the smooth scroll settle
    # Followed: the spoken sentence is on screen, above the docked player.
    top = page.evaluate("[...CSS.highlights.get('listen-sentence')][0].getBoundingClientRect().top")
    assert 0 <= top < 860 - 100
    page.screenshot(path=str(shots / "screenshot-playing.png"))
    for name in ("screenshot-demo.png", "screenshot-playing.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_demo_page_plays_within_its_content_security_policy(live: Live, tab: Tab) -> None:
    # Recorded from the first script on, so nothing the page does escapes it.
    tab.page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    _play_demo(live, tab)
    tab.page.locator("#email").press("Enter")  # the demo's sign-up form sends nothing
    tab.wait_time(1.0)
    assert tab.page.evaluate("window.cspViolations") == []
    assert not [line for line in tab.console if "Content Security Policy" in line], tab.console
    # The page's own stylesheet applies; so do the player's styles in its shadow root.
    assert tab.page.evaluate("getComputedStyle(document.querySelector('.kicker')).color") == (
        "rgb(200, 16, 46)"
    )
    assert tab.shadow("getComputedStyle(root.querySelector('button.main')).cursor") == "pointer"


def test_seek_is_served_by_range_requests_and_speed_is_remembered(live: Live, tab: Tab) -> None:
    meta = _play_demo(live, tab)
    page = tab.page
    seek = page.locator("listen-button input[aria-label='Seek']")
    box = seek.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    target = meta["duration_s"] * 0.75
    assert abs(tab.audio("currentTime") - target) < meta["duration_s"] * 0.05
    tab.wait_time(target + 0.5)
    assert any(status == 206 for _, status in tab.ranges), tab.ranges

    speed = page.locator("listen-button button.rate")
    assert speed.text_content() == f"1{X}"
    speed.click()
    assert speed.text_content() == f"1.25{X}" and tab.audio("playbackRate") == 1.25
    assert _announced(tab, f"Speed 1.25{X}", exact=False)

    page.reload()
    assert page.locator("listen-button button.rate").text_content() == f"1.25{X}"
    page.click(MAIN)
    tab.wait_time(0.3)
    assert tab.audio("playbackRate") == 1.25


def _announced(tab: Tab, text: str, *, exact: bool = True) -> bool:
    """True once the live region says ``text`` (announcements land a moment after the event)."""
    region = f"{SHADOW}.querySelector('[aria-live]').textContent"
    check = (
        f"{region} === {json.dumps(text)}" if exact else f"{region}.includes({json.dumps(text)})"
    )
    tab.page.wait_for_function(f"() => {check}", timeout=5000)
    return True


def test_clicking_a_paragraph_plays_from_the_word_clicked(live: Live, tab: Tab) -> None:
    # The demo's first voice: Piper's (its words from its phoneme alignments)
    # where the extra is installed, as in CI; else espeak-ng's (its word events).
    meta = _play_demo(live, tab)
    assert meta["voice"] == (player.demo_voices(voices()) or [meta["voice"]])[0]
    posted = tab.posted[0]["text"]
    paragraph = tab.page.locator("#article-body p").nth(4)
    start = posted.index(_norm(paragraph.text_content() or "")[:40])
    first = next(t for t in meta["timings"] if t["char_end"] > start)
    here = [t for t in meta["timings"] if t["paragraph"] == first["paragraph"]]
    paragraph.click()  # at its middle: a word of one of its sentences
    at = tab.audio("currentTime")
    clicked = [w for t in here for w in t["words"] if abs(at - w["start_ms"] / 1000) < 0.3]
    assert clicked, (at, here)
    sentence = next(t for t in here if clicked[0] in t["words"])
    tab.wait_time(at + 0.2)
    said = posted[sentence["char_start"] : sentence["char_end"]]
    assert _norm(_highlight(tab) or "") == _norm(said)


def test_reload_resumes_where_the_reader_left_off(live: Live, tab: Tab) -> None:
    meta = _play_demo(live, tab)
    tab.page.focus("listen-button button.play")
    for _ in range(6):
        tab.page.keyboard.press("l")
    tab.wait_time(61)
    tab.page.keyboard.press("k")  # pause: the position is stored
    left_at = tab.audio("currentTime")
    stored = tab.page.evaluate(f"localStorage.getItem('listen:pos:{meta['id']}')")
    assert abs(float(stored) - left_at) < 1.0

    tab.page.reload()
    tab.page.click(MAIN)
    tab.wait_time(left_at - 0.1, timeout_s=30)
    assert tab.audio("currentTime") < left_at + 5


def test_everything_works_from_the_keyboard(live: Live, tab: Tab) -> None:
    page = tab.page
    page.goto(live.url + "/")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "LISTEN-BUTTON":
            break
    else:
        raise AssertionError("Tab never reached the Listen button")
    outline = tab.shadow("getComputedStyle(root.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows a focus ring"
    page.keyboard.press("Enter")
    tab.wait_time(0.5)
    assert _announced(tab, "Playing")

    page.keyboard.press("k")
    assert tab.audio("paused") is True and _announced(tab, "Paused")
    page.keyboard.press("k")
    tab.wait_time(0.6)
    before = tab.audio("currentTime")
    page.keyboard.press("l")
    assert tab.audio("currentTime") >= before + 9.5
    page.keyboard.press("j")
    assert abs(tab.audio("currentTime") - before) < 1.5
    meta = live.meta(tab.audio_id())
    page.keyboard.press("k")
    current = _sentence_at(meta, tab.audio("currentTime"))["index"]
    page.keyboard.press(".")
    assert _sentence_at(meta, tab.audio("currentTime"))["index"] == current + 1
    page.keyboard.press("k")
    # The label follows the media element's "play" event, which comes a moment
    # after the key: wait for it instead of racing it.
    page.wait_for_function(
        f"() => !{AUDIO}.paused && {SHADOW}.querySelector('[aria-label=\"Pause\"]') !== null"
    )

    # Every control of the docked player is reachable and labelled.
    labels = []
    for _ in range(14):
        page.keyboard.press("Tab")
        labels.append(
            tab.shadow("root.activeElement && root.activeElement.getAttribute('aria-label')")
        )
    for label in ["Previous sentence", "Back 10 seconds", "Pause", "Seek", "Close player"]:
        assert label in labels, labels
    page.evaluate(f"{SHADOW}.querySelector('[aria-label=\"Close player\"]').focus()")
    page.keyboard.press("Enter")
    assert tab.audio("paused") is True
    assert tab.shadow("root.querySelector('.bar').hidden") is True


def test_the_iframe_embed_plays(live: Live, site: Site, tab: Tab) -> None:
    """The job body's snippet, pasted verbatim on another origin, plays there."""
    job = live.post({"text": "An embedded player. It plays in a frame.", "title": "Embedded"})
    assert job["embed_url"] == f"{live.url}/embed/{job['id']}"
    site.pages["/framed.html"] = (
        "<!doctype html><title>Host</title><h1>Host page</h1>" + job["embed_html"]
    )
    tab.page.goto(site.origin + "/framed.html")
    frame = tab.page.frame_locator("iframe")
    frame.locator("listen-button button[aria-label='Play']").click()
    inner = next(f for f in tab.page.frames if "/embed/" in f.url)
    inner.wait_for_function(
        f"() => {AUDIO}.currentTime > 0.5",
        timeout=30_000,
    )
    assert inner.evaluate(f"{SHADOW}.querySelector('.title').textContent") == "Embedded"


# The /embed page's height as laid out: where its body ends.
PAGE_HEIGHT = "Math.ceil(document.body.getBoundingClientRect().bottom)"


def test_the_iframe_fits_its_card_at_any_width(live: Live, site: Site, tab: Tab) -> None:
    """No cut and no gap: the page in the frame is as tall as the snippet says,
    on a wide column and on a phone (the card keeps to one row)."""
    job = live.post({"text": "A player that fits its frame.", "title": "A fitting title"})
    height = int(re.search(r'height="(\d+)"', job["embed_html"]).group(1))  # type: ignore[union-attr]
    site.pages["/fits.html"] = "<!doctype html><title>Fits</title>" + job["embed_html"]
    for width in (1280, 600, 360):
        tab.page.set_viewport_size({"width": width, "height": 800})
        tab.page.goto(site.origin + "/fits.html")
        tab.page.frame_locator("iframe").locator("listen-button .card").wait_for()
        inner = next(f for f in tab.page.frames if "/embed/" in f.url)
        shown = inner.evaluate(PAGE_HEIGHT)
        assert height - 4 <= shown <= height, (width, shown, height)
        frame_box = tab.page.locator("iframe").bounding_box()
        assert frame_box is not None and frame_box["height"] == height
        assert inner.evaluate("document.documentElement.scrollHeight") <= height, width


def test_download_saves_a_file_named_after_the_title_and_the_article_stays(
    live: Live, site: Site, tab: Tab
) -> None:
    """On a site of another origin, where Chromium ignores a link's ``download``
    attribute: the server's ``Content-Disposition`` makes the click a download."""
    title = "Ferries at dusk — Victoria Harbour"
    site.pages["/download.html"] = f"""<!doctype html><title>Harbour news</title>
<script src="{live.url}/player.js" defer></script>
<listen-button data-for="#story" data-title="{title}"></listen-button>
<div id="story"><p>The ferries cross the harbour at dusk. Their lights come on.</p></div>"""
    page = tab.page
    article = site.origin + "/download.html"
    page.goto(article)
    page.click(MAIN)
    tab.wait_time(0.3)
    save = page.locator("listen-button a[aria-label='Download audio']")
    save.wait_for(state="visible", timeout=60_000)  # once the whole file is made
    with page.expect_download(timeout=30_000) as info:
        save.click()
    download = info.value
    assert download.suggested_filename == f"{title}.mp3"
    assert page.url == article
    assert page.title() == "Harbour news"
    with urllib.request.urlopen(f"{live.url}/audio/{tab.audio_id()}.mp3") as response:
        assert Path(download.path()).read_bytes() == response.read()


def test_a_failed_job_tells_the_reader_a_short_message_not_the_detail(
    site: Site, tab: Tab, tmp_path: Path
) -> None:
    """A real worker whose encoder fails: the live region and the status say the
    first part of the public message; ffmpeg's output stays with the operators."""
    app = create_app(
        {"LISTEN_DATA_DIR": str(tmp_path / "data"), "LISTEN_ALLOWED_ORIGINS": site.origin}
    )
    break_encoder(app, tmp_path)
    worker = start_worker(app, tmp_path / "worker.log")
    base, stop = _serve(app)
    try:
        site.pages["/broken.html"] = f"""<!doctype html><title>Broken</title>
<script src="{base}/player.js" defer></script>
<listen-button data-for="#story"></listen-button>
<div id="story"><p>No audio will come of this. The encoder is broken.</p></div>"""
        page = tab.page
        page.goto(site.origin + "/broken.html")
        page.click(MAIN)
        page.wait_for_function(
            "() => document.querySelector('listen-button').state === 'error'", timeout=60_000
        )
        [record] = app.extensions["listen_jobs"].list_jobs()
        assert record.status == "failed" and "encoder on fire" in record.error["message"]
        said = told(record.error["code"])
        assert _announced(tab, said)
        assert tab.shadow("root.querySelector('.st').textContent") == said
        assert "retry" in tab.shadow("root.querySelector('button.main').textContent")
        assert tab.dialogs == []
    finally:
        stop()
        worker.stop()


LONG_TITLE = (
    "Harbour ferries keep running at dusk in every weather, as they have for more than a"
    " century, and the crews who sail them tell us why"
)
CARD = "root.querySelector('.card')"


def test_the_full_title_is_on_hover_and_for_screen_readers(
    live: Live, site: Site, tab: Tab
) -> None:
    site.pages["/long-title.html"] = f"""<!doctype html><title>Long title</title>
<script src="{live.url}/player.js" defer></script>
<listen-button data-for="#story" data-title="{LONG_TITLE}"></listen-button>
<div id="story"><p>The crews tell us why. It is the harbour.</p></div>"""
    page = tab.page
    page.goto(site.origin + "/long-title.html")
    page.click(MAIN)
    tab.wait_time(0.2)
    title = page.locator("listen-button .title")
    assert tab.shadow("root.querySelector('.title').scrollWidth") > tab.shadow(
        "root.querySelector('.title').clientWidth"
    ), "the title is cut short on screen"
    assert title.get_attribute("title") == LONG_TITLE
    expect(title).to_have_accessible_name(LONG_TITLE)
    # Chromium's own accessibility tree, which screen readers read, names it so too.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Accessibility.enable")
    element = cdp.send("Runtime.evaluate", {"expression": f"{SHADOW}.querySelector('.title')"})[
        "result"
    ]
    named = cdp.send(
        "Accessibility.queryAXTree",
        {"objectId": element["objectId"], "accessibleName": LONG_TITLE},
    )["nodes"]
    assert "heading" in [n["role"]["value"] for n in named if not n.get("ignored")], named


def _luminance(css_colour: str) -> float:
    red, green, blue = (int(c) / 255 for c in re.findall(r"\d+", css_colour)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


DARK_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="color-scheme" content="light dark"><title>The Night Edition</title>
<style>body{{font:18px/1.6 Georgia,serif;max-width:680px;margin:40px auto;padding:0 20px}}
@media (prefers-color-scheme:dark){{body{{background:#0d1117;color:#d1d7e0}}}}</style>
<script src="{server}/player.js" defer></script></head><body>
<h1>Ferries after dark</h1>
<listen-button data-for="#story" data-title="Ferries after dark"></listen-button>
<div id="story"><p>The last ferry leaves the pier at half past eleven. Its lights trace the
harbour while the city goes quiet.</p><p>On board, a handful of passengers watch the skyline.
Some have made this crossing every night for years.</p></div></body></html>"""


def test_dark_mode_follows_the_readers_setting(
    live: Live, site: Site, tab: Tab, browser: Browser, tmp_path: Path
) -> None:
    site.pages["/night.html"] = DARK_PAGE.format(server=live.url)
    # Light (the tab's default): a white card with dark text.
    tab.page.goto(site.origin + "/night.html")
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert tab.shadow(f"getComputedStyle({CARD}).backgroundColor") == "rgb(255, 255, 255)"

    context = browser.new_context(viewport={"width": 1000, "height": 600}, color_scheme="dark")
    try:
        dark = Tab(context.new_page())
        dark.page.goto(site.origin + "/night.html")
        dark.page.click(MAIN)
        dark.wait_time(0.5)
        background = dark.shadow(f"getComputedStyle({CARD}).backgroundColor")
        text = dark.shadow("getComputedStyle(root.querySelector('.title')).color")
        assert _luminance(background) < 0.15, background
        assert _luminance(text) > 0.8, text
        dark.page.evaluate(f"{AUDIO}.pause()")
        shot = _screenshots(tmp_path) / "screenshot-dark.png"
        dark.page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()


HOSTILE_TITLE = '<img src=x onerror=alert("title")>'
HOSTILE_PAGE = """<!doctype html><html><head><title>Hostile</title>
<script src="{server}/player.js" defer></script></head><body>
<listen-button data-for="#story" data-title="{title}"></listen-button>
<div id="story">
<p>&lt;img src=x onerror=alert(1)&gt; Hello &lt;script&gt;alert(2)&lt;/script&gt; world.</p>
<p>Then &lt;svg onload=alert(3)&gt; and &lt;iframe src=javascript:alert(4)&gt; end.</p></div>
</body></html>"""


def test_hostile_text_is_shown_as_text(live: Live, site: Site, tab: Tab) -> None:
    title = HOSTILE_TITLE.replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    site.pages["/hostile.html"] = HOSTILE_PAGE.format(server=live.url, title=title)
    page = tab.page
    page.goto(site.origin + "/hostile.html")
    story = page.inner_html("#story")
    page.click(MAIN)  # a cross-origin POST, allowed for this site
    tab.wait_time(0.3)
    assert tab.shadow("root.querySelector('.title').textContent") == HOSTILE_TITLE
    assert tab.shadow("root.querySelectorAll('img, script, iframe, object').length") == 0
    assert page.inner_html("#story") == story, "the article is not modified"
    assert "<img src=x onerror=alert(1)>" in tab.posted[0]["text"]
    job_id = tab.audio_id()

    page.goto(f"{live.url}/embed/{job_id}")
    page.click("listen-button button[aria-label='Play']")
    tab.wait_time(0.3)
    assert tab.shadow("root.querySelector('.title').textContent") == HOSTILE_TITLE
    assert page.evaluate("document.querySelectorAll('img, iframe').length") == 0
    assert tab.dialogs == []


def test_no_network_until_the_button_is_seen_or_pressed(live: Live, site: Site, tab: Tab) -> None:
    site.pages["/long.html"] = f"""<!doctype html><title>Long read</title>
<script src="{live.url}/player.js" defer></script>
<h1>A long read</h1><div style="height: 3000px">Scroll down.</div>
<listen-button data-for="#body"></listen-button>
<div id="body"><p>Short article text, below the fold. It has two sentences.</p></div>"""
    page = tab.page
    page.goto(site.origin + "/long.html")
    page.wait_for_timeout(800)
    to_service = [u for u in tab.requests if u.startswith(live.url)]
    assert to_service == [f"{live.url}/player.js"]
    assert tab.shadow("root.querySelector('button.main').textContent") == "Listen"

    page.locator("listen-button").scroll_into_view_if_needed()
    page.wait_for_function(f"() => {LABEL}.includes('1 min')")
    assert [u for u in tab.requests if u.startswith(live.url)] == to_service
    page.click(MAIN)
    tab.wait_time(0.2)
    assert f"{live.url}/api/v1/listen" in tab.requests


def test_script_size_headers_cors_and_frame_ancestors(live: Live, site: Site) -> None:
    with urllib.request.urlopen(live.url + "/player.js") as response:
        body = response.read()
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert response.headers["Cache-Control"] == "public, max-age=3600"
        etag = response.headers["ETag"]
    assert len(gzip.compress(body, 9)) < 20 * 1024
    # Served minified: what the readers' browsers run (every test here) is that.
    source = PLAYER_JS.read_bytes()
    assert len(body) < 0.8 * len(source) and b"/*" not in body
    assert b"innerHTML" not in body
    again = urllib.request.Request(live.url + "/player.js", headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(again)
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as exc:
        exc.close()  # holds the socket until closed
        assert exc.code == 304

    def preflight(origin: str) -> tuple[int, str | None]:
        request = urllib.request.Request(
            live.url + "/api/v1/listen",
            method="OPTIONS",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-listen-key",
            },
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, response.headers["Access-Control-Allow-Origin"]
        except urllib.error.HTTPError as exc:
            exc.close()  # holds the socket until closed
            return exc.code, exc.headers["Access-Control-Allow-Origin"]

    assert preflight(site.origin) == (204, site.origin)
    assert preflight("https://evil.example") == (403, None)

    job = live.post({"text": "Framing rules."})
    with urllib.request.urlopen(f"{live.url}/embed/{job['id']}") as response:
        csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {site.origin}" in csp
    assert "default-src 'none'" in csp


def test_the_player_keeps_its_looks_on_a_hostile_stylesheet(
    live: Live, site: Site, tab: Tab
) -> None:
    site.pages["/styled.html"] = f"""<!doctype html><title>Styled</title>
<style>* {{ color: red !important; font-size: 40px !important; }}
button {{ display: none !important; }} listen-button {{ color: lime; }}</style>
<script src="{live.url}/player.js" defer></script>
<listen-button data-for="#a"></listen-button><div id="a"><p>Styles stay apart.</p></div>"""
    tab.page.goto(site.origin + "/styled.html")
    shown = tab.shadow(
        "(() => { const s = getComputedStyle(root.querySelector('button.main'));"
        " return [s.display, s.color, s.fontSize]; })()"
    )
    assert shown == ["inline-flex", "rgb(255, 255, 255)", "15px"]
    # And the player adds nothing to the page's own styles but the highlight rule.
    assert tab.page.evaluate("document.styleSheets.length") == 1


def test_a_title_with_line_breaks_is_sent_on_one_line(live: Live, site: Site, tab: Tab) -> None:
    """The server refuses control characters in a title; the player never sends them."""
    site.pages["/breaks.html"] = f"""<!doctype html><title>Breaks</title>
<script src="{live.url}/player.js" defer></script>
<listen-button data-for="#story" data-title="Two&#10;lines&#9;here&#13;&#10;"></listen-button>
<div id="story"><p>A title that wraps should not stop the audio.</p></div>"""
    assert _press_until_loaded(tab, site.origin + "/breaks.html")["title"] == "Two lines here"


def _press_until_loaded(tab: Tab, url: str) -> dict[str, Any]:
    """Open ``url``, press Listen, wait until the player has its audio; what it posted."""
    tab.page.goto(url)
    tab.page.click(MAIN)
    tab.page.wait_for_function(
        "() => { const e = document.querySelector('listen-button'); return e.meta && e.meta.id; }",
        timeout=60_000,
    )
    return tab.posted[0]


def test_image_descriptions_are_read_only_when_they_say_something(
    live: Live, site: Site, tab: Tab
) -> None:
    """An image's alt text is read as a paragraph of its own when it describes
    something; empty, one-word, file-name, decorative and figure images are not."""
    site.pages["/images.html"] = f"""<!doctype html><title>Images</title>
<script src="{live.url}/player.js" defer></script>
<listen-button data-for="#story"></listen-button>
<div id="story"><p>The harbour was busy.</p>
<img alt="Ferries crossing the harbour at dusk" src="data:,">
<img alt="photo" src="data:,"><img alt="" src="data:,"><img alt="IMG_2041 final.jpg" src="data:,">
<img alt="A decorative flourish here" role="presentation" src="data:,">
<figure><img alt="Shown with its caption instead" src="data:,">
<figcaption>Caption</figcaption></figure>
<p>Then night fell.</p></div>"""
    assert _press_until_loaded(tab, site.origin + "/images.html")["text"] == (
        "The harbour was busy.\n\nImage: Ferries crossing the harbour at dusk.\n\nThen night fell."
    )
