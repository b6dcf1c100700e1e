"""The player tells the service the language the publisher's page declares."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SHADOW, Live, Site, Tab

MAIN = "listen-button button.main"


def _page(live: Live, html_lang: str, article_attrs: str, player_attrs: str = "") -> str:
    return f"""<!doctype html><html{html_lang}><head><title>Lang test</title>
<script src="{live.url}/player.js" defer></script></head><body>
<listen-button data-for="#story"{player_attrs}></listen-button>
<section lang="en"><p>A caption in English, outside the article.</p></section>
<div id="wrap"{article_attrs}><article id="story"><p>{{text}}</p></article></div>
</body></html>"""


@pytest.mark.parametrize(
    ("name", "html_lang", "article_attrs", "player_attrs", "text", "expected"),
    [
        # The article's own ancestor wins over <html>.
        ("hk", ' lang="en"', ' lang="zh-HK"', "", "立法會今日通過新的房屋政策。", "zh-HK"),
        # No lang near the article: <html lang>.
        ("fr", ' lang="fr"', "", "", "Le maire a inauguré la bibliothèque samedi.", "fr"),
        # data-lang is the publisher's explicit choice.
        ("de", ' lang="fr"', ' lang="fr"', ' data-lang="de"', "Der Streik geht weiter.", "de"),
    ],
    ids=["article-lang", "html-lang", "data-lang"],
)
def test_post_carries_the_language_the_page_declares(
    live: Live,
    site: Site,
    tab: Tab,
    name: str,
    html_lang: str,
    article_attrs: str,
    player_attrs: str,
    text: str,
    expected: str,
) -> None:
    path = f"/lang-{name}.html"
    site.pages[path] = _page(live, html_lang, article_attrs, player_attrs).format(text=text)
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.2)  # the service accepted the language and speaks
    assert [(p.get("lang"), p["text"]) for p in tab.posted] == [(expected, text)]


@pytest.mark.parametrize(
    "html_lang", ["", ' lang=""', ' lang="english please"'], ids=["none", "empty", "free-text"]
)
def test_no_or_unusable_lang_is_not_sent(live: Live, site: Site, tab: Tab, html_lang: str) -> None:
    path = f"/nolang-{len(html_lang)}.html"
    site.pages[path] = _page(live, html_lang, "").format(text="Talks resume today in the city.")
    tab.page.goto(site.origin + path)
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert len(tab.posted) == 1 and "lang" not in tab.posted[0]


def test_a_page_lang_with_no_voice_is_read_in_the_default_voice(
    live: Live, site: Site, tab: Tab
) -> None:
    # Zulu: a well-formed tag espeak-ng has no voice for; the service says unknown_voice.
    site.pages["/zulu.html"] = _page(live, ' lang="zu-ZA"', "").format(text="Sawubona, mhlaba.")
    tab.page.goto(site.origin + "/zulu.html")
    tab.page.click(MAIN)
    tab.wait_time(0.2)
    assert [p.get("lang") for p in tab.posted] == ["zu-ZA", None]


def test_data_lang_with_no_voice_is_an_error_the_reader_sees(
    live: Live, site: Site, tab: Tab
) -> None:
    page = _page(live, "", "", ' data-lang="zu"').format(text="Sawubona, mhlaba.")
    site.pages["/zulu-explicit.html"] = page
    tab.page.goto(site.origin + "/zulu-explicit.html")
    tab.page.click(MAIN)
    tab.page.wait_for_function(
        f"() => {SHADOW}.querySelector('[aria-live]').textContent"
        " === \"No voice for language 'zu'.\""
    )
    assert [p.get("lang") for p in tab.posted] == ["zu"]
