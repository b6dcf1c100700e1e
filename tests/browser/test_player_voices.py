"""A choice of voice in the player when a site offers several (data-voices)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, expect

from listen_service.player import demo_voices
from tests.browser.conftest import AUDIO, SHADOW, Live, Site, Tab
from workers.speakers import get_speaker
from workers.voices import ESPEAK, PIPER, Voice, resolve_voice

MAIN = "listen-button button.main"
PICKER = "listen-button select.voice"
VOICES_API = "/api/v1/voices"

_installed = get_speaker("").voices()
JOE = next(v for v in _installed if v.engine == PIPER and v.languages[0] == "en-us")
US = resolve_voice([v for v in _installed if v.engine == ESPEAK], lang="en-us")


def _page(live: Live, voices: str, text: str, more: str = "") -> str:
    return f"""<!doctype html><html lang="en"><head><title>Voices</title>
<script src="{live.url}/player.js" defer></script></head><body>
<listen-button data-for="#story" data-voices="{voices}"{more}></listen-button>
<div id="story">{text}</div></body></html>"""


def _picker(tab: Tab) -> list[tuple[str, str]]:
    """The picker's options, (value, label), once it shows."""
    tab.page.locator(PICKER).wait_for(state="visible", timeout=30_000)
    found = tab.shadow(
        "[...root.querySelectorAll('select.voice option')].map(o => [o.value, o.textContent])"
    )
    return [(value, label) for value, label in found]


def _sentence(meta: dict[str, Any], seconds: float) -> int:
    ms = seconds * 1000
    return [t for t in meta["timings"] if t["start_ms"] <= ms][-1]["index"]  # type: ignore[no-any-return]


def _speaker(voice: Voice) -> str:
    """Who a Piper voice's name says speaks it ("… - joe medium (Piper)" → "joe")."""
    found = re.search(r" - (\S+)", voice.name)
    assert found, voice.name
    return found.group(1)


def test_the_picker_lists_the_offered_voices_the_service_has(
    live: Live, site: Site, tab: Tab, browser: Browser
) -> None:
    # Short ids as the API takes them, one the service lacks, one given twice.
    offered = f"{JOE.id}, en-us no-such-voice {US.id}"
    text = "<p>The library opens late on Thursdays. Readers welcome the change.</p>"
    site.pages["/voices-two.html"] = _page(live, offered, text)
    tab.page.goto(site.origin + "/voices-two.html")
    tab.page.wait_for_timeout(500)
    assert not [u for u in tab.requests if VOICES_API in u], "no network before a press"
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    options = _picker(tab)
    assert options == [
        (JOE.id, f"{_speaker(JOE).capitalize()} (neural)"),
        (US.id, f"{US.name}, eSpeak NG"),
    ]
    # The first offered is the default, and what was asked for and played.
    assert tab.page.locator(PICKER).input_value() == JOE.id
    assert [p.get("voice") for p in tab.posted] == [JOE.id]
    assert live.meta(tab.audio_id())["voice"] == JOE.id
    expect(tab.page.locator(PICKER)).to_have_accessible_name("Voice")
    # It sits by the title: the seek bar keeps its width.
    seek = "root.querySelector('input[aria-label=Seek]').getBoundingClientRect().width"
    with_picker = tab.shadow(seek)
    tab.shadow("(root.querySelector('select.voice').hidden = true)")
    assert tab.shadow(seek) == with_picker > 150
    tab.shadow("(root.querySelector('select.voice').hidden = false)")

    # Its looks follow the reader's dark setting, as the other controls do.
    context = browser.new_context(color_scheme="dark")
    try:
        dark = Tab(context.new_page())
        dark.page.goto(site.origin + "/voices-two.html")
        dark.page.click(MAIN)
        dark.page.locator(PICKER).wait_for(state="visible", timeout=30_000)
        look = dark.shadow("getComputedStyle(root.querySelector('select.voice')).backgroundColor")
        rate = dark.shadow("getComputedStyle(root.querySelector('button.rate')).backgroundColor")
        assert look == rate != "rgb(255, 255, 255)"
    finally:
        context.close()


def test_data_voice_names_the_default_among_them(live: Live, site: Site, tab: Tab) -> None:
    text = "<p>The bridge reopens on Monday. Cyclists get a lane of their own.</p>"
    site.pages["/voices-named.html"] = _page(
        live, f"{JOE.id} {US.id}", text, f' data-voice="{US.id}"'
    )
    tab.page.goto(site.origin + "/voices-named.html")
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert tab.page.locator(PICKER).input_value() == US.id
    assert [p.get("voice") for p in tab.posted] == [US.id]


def test_no_picker_with_one_voice_the_service_has(live: Live, site: Site, tab: Tab) -> None:
    text = "<p>The market moves indoors for winter. Stalls stay open until six.</p>"
    site.pages["/voices-one.html"] = _page(live, "no-such-voice en-us", text)
    tab.page.goto(site.origin + "/voices-one.html")
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert [u for u in tab.requests if VOICES_API in u], "the service was asked"
    assert tab.shadow("root.querySelector('select.voice').hidden") is True
    assert [p.get("voice") for p in tab.posted] == [US.id]

    # One voice offered: nothing to choose, nothing to ask.
    site.pages["/voices-single.html"] = _page(live, "en-us", text.replace("six", "seven"))
    tab.requests.clear()
    tab.page.goto(site.origin + "/voices-single.html")
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert not [u for u in tab.requests if VOICES_API in u]
    assert tab.shadow("root.querySelector('select.voice').hidden") is True
    assert tab.posted[-1]["voice"] == "en-us"


ARTICLE = "".join(
    f"<p>{s}</p>"
    for s in (
        "The harbour ferries kept running through the storm on Tuesday night.",
        "Crews said the crossings were rough but safe, and no sailing was cancelled.",
        "Passengers on the last boat home described waves breaking over the bow.",
        "The operator praised its captains, several of whom worked double shifts.",
        "Engineers will inspect the piers on Wednesday morning before the first departure.",
        "A spokesperson said repairs, if any are needed, would be made overnight.",
        "Commuters are advised to check the timetable before they travel.",
        "The weather service expects calmer seas by the weekend.",
        "Fishing boats returned to the typhoon shelters early on Monday.",
        "The marine department thanked everyone for their patience.",
    )
)


def test_choosing_another_voice_continues_in_it_and_is_remembered(
    live: Live, site: Site, tab: Tab
) -> None:
    site.pages["/voices-switch.html"] = _page(live, f"{JOE.id} {US.id}", ARTICLE)
    page = tab.page
    page.goto(site.origin + "/voices-switch.html")
    page.click(MAIN)
    tab.wait_time(0.2)
    first = tab.audio_id()
    joe = live.meta(first)
    assert joe["voice"] == JOE.id
    # Into the article: the fourth sentence.
    page.evaluate(f"{AUDIO}.currentTime = {joe['timings'][3]['start_ms'] / 1000 + 0.3}")
    tab.wait_time(joe["timings"][3]["start_ms"] / 1000 + 0.5)
    at = _sentence(joe, tab.audio("currentTime"))

    # From the keyboard: the picker has focus, the arrow key picks the next voice.
    page.locator(PICKER).focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        f"() => {SHADOW}.querySelector('[aria-live]').textContent.startsWith('Voice: ')"
    )
    assert tab.audio("paused") is False, "a key on the picker is not the player's shortcut"
    page.wait_for_function(
        f"() => document.querySelector('listen-button').meta"
        f" && document.querySelector('listen-button').meta.id !== '{first}'",
        timeout=60_000,
    )
    page.wait_for_function(f"() => !{AUDIO}.paused && {AUDIO}.currentTime > 0", timeout=60_000)
    second = tab.audio_id()
    assert [p.get("voice") for p in tab.posted] == [JOE.id, US.id]
    assert tab.posted[1]["text"] == tab.posted[0]["text"]
    us = live.meta(second)
    assert us["voice"] == US.id != joe["voice"]
    # Where it went on: the sentence it was at (or the next, as it plays on).
    assert _sentence(us, tab.audio("currentTime")) in (at, at + 1)
    assert page.evaluate("localStorage.getItem('listen:voice')") == US.id

    # Later in the article, back to the first voice, whose audio is made already
    # (and whose position stored at the change is earlier): it plays on from here.
    later = us["timings"][7]["start_ms"] / 1000
    page.evaluate(f"{AUDIO}.currentTime = {later + 0.3}")
    tab.wait_time(later + 0.5)
    at = _sentence(us, tab.audio("currentTime"))
    page.locator(PICKER).select_option(JOE.id)
    page.wait_for_function(
        f"() => document.querySelector('listen-button').meta.id === '{first}'"
        f" && !{AUDIO}.paused && {AUDIO}.currentTime > 0",
        timeout=60_000,
    )
    assert [p.get("voice") for p in tab.posted] == [JOE.id, US.id, JOE.id]
    assert _sentence(joe, tab.audio("currentTime")) in (at, at + 1)
    page.locator(PICKER).select_option(US.id)  # the voice the next visit gets
    page.wait_for_function(f"() => document.querySelector('listen-button').meta.id === '{second}'")

    # Remembered for this site: the next visit asks for that voice at once.
    page.reload()
    page.click(MAIN)
    tab.wait_time(0.2)
    assert tab.posted[-1]["voice"] == US.id
    assert page.locator(PICKER).input_value() == US.id
    assert tab.audio_id() == second


def test_the_demo_offers_the_neural_voice_first(live: Live, tab: Tab) -> None:
    offered = demo_voices(_installed)
    assert offered[0] == JOE.id and offered[-1] == resolve_voice(_installed, lang="en").id
    tab.page.goto(live.url + "/")
    assert tab.page.locator("listen-button").get_attribute("data-voices") == " ".join(offered)
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    labels = [label for _, label in _picker(tab)]
    assert labels[0] == f"{_speaker(JOE).capitalize()} (neural)"
    assert labels[-1].endswith(", eSpeak NG") and len(labels) == len(offered)
    assert tab.posted[0]["voice"] == JOE.id
    assert live.meta(tab.audio_id())["voice"] == JOE.id
