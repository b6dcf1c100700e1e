"""The English normaliser (workers.normalise): each token class, and the map back to the page."""

from __future__ import annotations

import pytest

from workers.normalise import NORMALISER_VERSION, normalise
from workers.spoken import Spoken


def said(text: str, **kwargs: str) -> str:
    return normalise(text, **kwargs).text


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("4,500 workers", "four thousand five hundred workers"),
        ("fell 2.75 points", "fell two point seven five points"),
        ("dropped to -12 overnight", "dropped to minus twelve overnight"),
        ("a ratio of 0.08", "a ratio of zero point zero eight"),
        ("about 1500 people", "about one thousand five hundred people"),
        ("the 101st day", "the one hundred and first day"),
        ("the 19th-century hall", "the nineteenth-century hall"),
        ("rose 3-5%", "rose three to five percent"),
        ("aged 18-25", "aged eighteen to twenty-five"),
        ("a 50-50 chance", "a fifty fifty chance"),
        ("the 1995-96 season", "the nineteen ninety-five to ninety-six season"),
        ("a 3:1 ratio", "a three to one ratio"),
        ("rose 1.9%", "rose one point nine percent"),
        ("a 3/4 majority", "a three quarters majority"),
        ("1 1/2 cups", "one and a half cups"),
        ("2 x 3 metres", "two by three metres"),
        ("about 3x faster", "about three times faster"),
        ("2 + 2 = 4", "two plus two equals four"),
        ("the G20 summit", "the G twenty summit"),
        ("the A380", "the A three eighty"),
        ("Flight CX888", "Flight C X eight eight eight"),
        ("a 4G network", "a four G network"),
        ("221B Baker Street", "two twenty-one B Baker Street"),
        ("She won 6-4, 6-3.", "She won six to four, six to three."),
        ("to 5.25%-5.5%", "to five point two five to five point five percent"),
        ("10,000+ people", "ten thousand plus people"),
        ("a 24/7 service", "a twenty-four seven service"),
        ("after 9/11", "after nine eleven"),
        ("a 1:2.5 ratio", "a one to two point five ratio"),
    ],
)
def test_numbers(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("In 2019, it grew.", "In twenty nineteen, it grew."),
        ("passed in 2005", "passed in two thousand and five"),
        ("founded in 1900", "founded in nineteen hundred"),
        ("from 2020 to 2023", "from twenty twenty to twenty twenty-three"),
        ("the 2018\u20132022 period", "the twenty eighteen to twenty twenty-two period"),
        ("the 2022 Winter Olympics", "the twenty twenty-two Winter Olympics"),
        ("Room 1204", "Room twelve oh four"),
        ("in the 1990s", "in the nineteen nineties"),
        ("in the 2000s", "in the two thousands"),
        ("the '80s", "the eighties"),
        ("people in their 30s", "people in their thirties"),
        ("in 2022/23", "in twenty twenty-two to twenty-three"),
    ],
)
def test_years_and_decades(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("£240m", "two hundred and forty million pounds"),
        ("HK$2.4bn", "two point four billion Hong Kong dollars"),
        ("$2.50", "two dollars fifty"),
        ("$0.99", "ninety-nine cents"),
        ("£1", "one pound"),
        ("€3tn", "three trillion euros"),
        ("¥1,500", "one thousand five hundred yen"),
        ("(US$31.3 billion)", "(thirty-one point three billion US dollars)"),
        ("CNY223.4 billion", "two hundred and twenty-three point four billion yuan"),
        ("RMB 5.6 trillion", "five point six trillion yuan"),
        ("S$2 million", "two million Singapore dollars"),
        ("A$750,000", "seven hundred and fifty thousand Australian dollars"),
        ("USD 3.2 billion", "three point two billion US dollars"),
        ("100 HKD", "one hundred Hong Kong dollars"),
        ("a loss of -$5m", "a loss of minus five million dollars"),
    ],
)
def test_money(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken", "order"),
    [
        ("on 12 March 2024", "on the twelfth of March twenty twenty-four", "dmy"),
        ("the 5th of November", "the fifth of November", "dmy"),
        ("on March 12, 2024", "on March twelfth, twenty twenty-four", "dmy"),
        ("on 2024-03-12", "on March twelfth, twenty twenty-four", "dmy"),
        ("on 05/06/2021", "on the fifth of June twenty twenty-one", "dmy"),
        ("on 05/06/2021", "on May sixth, twenty twenty-one", "mdy"),
        ("Jan. 5", "January fifth", "dmy"),
        ("Sept 30", "September thirtieth", "dmy"),
        ("held on 3-5 May", "held on the third to the fifth of May", "dmy"),
        ("in September 2022", "in September twenty twenty-two", "dmy"),
        ("at 3:30pm", "at three thirty p m", "dmy"),
        ("at 11 p.m. on Friday", "at eleven p m on Friday", "dmy"),
        ("It ends at 6 a.m.", "It ends at six a m.", "dmy"),
        ("at 09:05", "at nine oh five", "dmy"),
        ("at 14:00", "at fourteen hundred", "dmy"),
        ("at 7.30pm", "at seven thirty p m", "dmy"),
        ("on Mon 3 June", "on Monday the third of June", "dmy"),
        ("Sun Hung Kai", "Sun Hung Kai", "dmy"),
    ],
)
def test_dates_and_times(written: str, spoken: str, order: str) -> None:
    assert said(written, date_order=order) == spoken


def test_an_unknown_date_order_is_refused() -> None:
    with pytest.raises(ValueError, match="date_order"):
        normalise("on 05/06/2021", date_order="ymd")


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("a 5km run", "a five kilometre run"),
        ("12kg of rice", "twelve kilograms of rice"),
        ("-4°C", "minus four degrees Celsius"),
        ("100 sq m", "one hundred square metres"),
        ("50 m²", "fifty square metres"),
        ("120 km/h", "one hundred and twenty kilometres per hour"),
        ("50 mph", "fifty miles per hour"),
        ("3-5km", "three to five kilometres"),
        ("1.8m tall", "one point eight metres tall"),
        ("a 300m tower", "a three hundred metre tower"),
        ("1m tonnes", "one million tonnes"),
        ("a 5m deal", "a five million deal"),
        ("3.5bn people", "three point five billion people"),
        ("a 100MW plant", "a one hundred megawatt plant"),
        (
            "ran the 100m in 9.58 seconds",
            "ran the one hundred metres in nine point five eight seconds",
        ),
        ("the 3m users", "the three million users"),
        ("6ft 2in tall", "six feet two inches tall"),
        ("It costs 50p.", "It costs fifty pence."),
        ("to 45.2p", "to forty-five point two pence"),
    ],
)
def test_measures(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        (
            "call +852 2584 4333",
            "call plus eight five two, two five eight four, four three three three",
        ),
        ("hotline 2598 1234", "hotline two five nine eight, one two three four"),
        ("Call 999 now", "Call nine nine nine now"),
        ("call 100 people", "call one hundred people"),
        ("the hotel 1998-2003", "the hotel nineteen ninety-eight to two thousand and three"),
        (
            "Call us on 2833 4333 today",
            "Call us on two eight three three, four three three three today",
        ),
        ("between 2019 2020", "between twenty nineteen twenty twenty"),
        ("visit www.hktdc.com", "visit w w w dot H K T D C dot com"),
        ("see https://example.com/news.", "see example dot com slash news."),
        ("email info@hktdc.org", "email info at H K T D C dot org"),
        ("write to press@bbc.co.uk", "write to press at B B C dot co dot U K"),
    ],
)
def test_telephone_numbers_and_addresses(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Dr Peter Lam", "doctor Peter Lam"),
        ("Mr. and Mrs. Jones", "mister and missus Jones"),
        ("Ms Wong", "miz Wong"),
        ("Prof Chan", "professor Chan"),
        ("St Paul's Cathedral", "saint Paul's Cathedral"),
        ("He lives at 10 Downing St.", "He lives at ten Downing street."),
        ("on Nathan St near the MTR", "on Nathan street near the M T R"),
        ("on 42nd St today", "on forty-second street today"),
        ("Gen Z shoppers", "Gen Z shoppers"),
        ("No. 5 Road", "number five Road"),
        ("Turn to p. 45, or pp. 4-5.", "Turn to page forty-five, or pages four to five."),
        ("no one came", "no one came"),
        ("no 5-star hotels", "no five-star hotels"),
        ("see no. 5", "see number five"),
        ("e.g. finance", "for example finance"),
        ("i.e. banking", "that is banking"),
        ("apples, pears, etc.", "apples, pears, et cetera."),
        ("Spurs vs. Arsenal", "Spurs versus Arsenal"),
        ("approx. 40", "approximately forty"),
        ("up 2% y/y.", "up two percent year on year."),
    ],
)
def test_titles_and_abbreviations(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("of GDP", "of G D P"),
        ("the WTO and the IMF", "the W T O and the I M F"),
        ("an HKTDC survey", "an H K T D C survey"),
        ("NASA and NATO", "NASA and NATO"),
        ("UNESCO heritage", "UNESCO heritage"),
        ("COVID-19 cases", "COVID-nineteen cases"),
        ("the ICAC", "the I C A C"),
        ("the OECD", "the O E C D"),
        ("two CEOs", "two C E O's"),
        ("BREAKING NEWS FROM THE UN", "BREAKING NEWS FROM THE UN"),
    ],
)
def test_acronyms(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("King Charles III", "King Charles the third"),
        ("Pope John Paul II", "Pope John Paul the second"),
        ("Louis XIV", "Louis the fourteenth"),
        ("James I", "James the first"),
        ("World War II", "World War two"),
        ("Part IV", "Part four"),
        ("Then I left", "Then I left"),
        ("Washington DC", "Washington D C"),
        ("Malcolm X spoke", "Malcolm X spoke"),
        ("Henry V", "Henry the fifth"),
        ("The II Corps", "The I I Corps"),
    ],
)
def test_roman_numerals(written: str, spoken: str) -> None:
    assert said(written) == spoken


@pytest.mark.parametrize("lang", ["en", "de", "zh"])
@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("This is proven.[3] Next.", "This is proven. Next."),
        ("It was good.[12][13]", "It was good."),
        ("What?!?!", "What?"),
        ("Amazing!!!", "Amazing!"),
        ("Great news 🎉 today", "Great news today"),
        ("Wait.....", "Wait..."),
    ],
)
def test_noise_in_any_language(written: str, spoken: str, lang: str) -> None:
    assert said(written, lang=lang) == spoken


def test_other_languages_keep_their_numbers_and_words() -> None:
    written = "Am 12. März 2024 kostete es 5,50 € (GDP)."
    assert said(written, lang="de") == written
    assert said("On 12 March", lang="en-GB") == "On the twelfth of March"
    assert said("On 12 March", lang="en_US") == "On the twelfth of March"
    assert said("On 12 March", lang="en-gb-scotland") == "On the twelfth of March"
    assert said("On 12 March", lang="eo") == "On 12 March"


def test_lexicon_phonemes_pass_through_untouched() -> None:
    written = "[[h'Eloo 2019 GDP]] said Dr Lam in 2019"
    spoken = normalise(written)
    assert spoken.text == "[[h'Eloo 2019 GDP]] said doctor Lam in twenty nineteen"
    assert all(span.src_start >= len("[[h'Eloo 2019 GDP]]") for span in spoken.spans)


SENTENCES = [
    "Research funding reached CNY223.4 billion (US$31.3 billion) in 2019, or 6.3% of GDP.",
    "Dr Lam said on 12 March 2024 at 3:30pm that 1,234 visitors came, e.g. from HK.[4]",
    "Call +852 2584 4333 or email info@hktdc.org about the 26th symposium!!!",
    "King Charles III met 50 people at 10 Downing St. on the 2nd, a 5km walk away.",
]


@pytest.mark.parametrize("written", SENTENCES)
def test_each_span_maps_the_rewritten_token_back_to_the_page(written: str) -> None:
    spoken = normalise(written)
    assert spoken.spans
    rebuilt = Spoken.build(
        written,
        [(s.src_start, s.src_end, spoken.text[s.out_start : s.out_end]) for s in spoken.spans],
    )
    assert rebuilt == spoken
    for span in spoken.spans:
        token = written[span.src_start : span.src_end]
        assert token and token == token.strip(), token
        if span.out_end > span.out_start:  # a dropped marker has no spoken range to map
            assert spoken.source_range(span.out_start, span.out_end) == (
                span.src_start,
                span.src_end,
            )


def test_spans_are_the_tokens_themselves() -> None:
    written = "In 2019, HK$2.4bn went to Dr Lam."
    spoken = normalise(written)
    assert [written[s.src_start : s.src_end] for s in spoken.spans] == ["2019", "HK$2.4bn", "Dr"]
    assert [spoken.text[s.out_start : s.out_end] for s in spoken.spans] == [
        "twenty nineteen",
        "two point four billion Hong Kong dollars",
        "doctor",
    ]


def test_text_without_tokens_to_rewrite_is_unchanged() -> None:
    written = "Services grew, and the city's planners were pleased."
    assert normalise(written) == Spoken(written)


def test_the_version_is_a_short_label() -> None:
    assert NORMALISER_VERSION and " " not in NORMALISER_VERSION
