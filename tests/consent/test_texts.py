"""The request's words: the language chosen (platform field, then the detector, then the default), the templates
in French, Dutch and English, the config's overrides, and the platforms' limits."""

from __future__ import annotations

import pytest

from core.consent_text import (LANGUAGES, TooLong, choose_language, detect, detectable, graphemes, normalise,
                               render)

LINK = "https://photos.welovebrussels.be/items/123456.html"


@pytest.mark.parametrize("field, expected", [("fr-BE", "fr"), ("nl_BE", "nl"), ("NL", "nl"), ("en", "en"),
                                             ("fra", "fr"), (" nl-be ", "nl"), ("de", None), ("", None), (None, None)])
def test_the_platforms_language_field_is_normalised(field, expected):
    assert normalise(field) == expected


@pytest.mark.parametrize("text, expected", [
    ("Le soleil se couche sur la Grand-Place, quelle lumière ce soir", "fr"),
    ("Belle journée au parc du Cinquantenaire #welovebrussels @dirk@fake.social https://x.example/1", "fr"),
    ("Zonsondergang boven de Grote Markt, wat een licht vanavond", "nl"),
    ("Mooi weer vandaag in het Warandepark #brussel", "nl"),
    ("Sunset over the Grand Place, what a light tonight", "en"),
    ("Beautiful morning walk in the Sonian Forest", "en"),
])
def test_the_detector_reads_short_french_dutch_and_english(text, expected):
    assert detect(text) == expected


@pytest.mark.parametrize("text", ["#welovebrussels #bruxelles #brussel 📸", "Merci", "@dirk@fake.social https://a.b/c"])
def test_too_few_words_leave_the_choice_to_the_default(text):
    assert detect(text) is None
    assert choose_language(None, text, "nl") == "nl"


def test_the_platform_field_comes_first_and_another_language_falls_back_to_the_default():
    dutch = "Zonsondergang boven de Grote Markt, wat een licht vanavond"
    assert choose_language("fr-BE", dutch, "en") == "fr", "the platform's field wins over the words"
    assert choose_language(None, dutch, "en") == "nl"
    assert choose_language("de", "Sonnenuntergang am Grand-Place", "en") == "en", "no German template: the default"


def test_tags_mentions_and_links_are_not_read_as_words():
    assert detectable("Hello #welovebrussels @dirk@fake.social @dirk.bsky.social https://x.y/z www.a.be there") == \
        "Hello there"


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_request_mentions_links_and_says_how_to_answer(language):
    text = render(language, mention="@dirk@fake.social", link=LINK, network="fediverse")
    assert text.count("@dirk@fake.social") == 1 and text.count(LINK) == 1
    assert {"fr": "#oui", "nl": "#ja", "en": "#yes"}[language] in text
    assert {"fr": "#non", "nl": "#nee", "en": "#no"}[language] in text
    by_hand = render(language, mention="@dirk", link=LINK, network="instagram", by_hand=True)
    assert "#" not in by_hand and LINK in by_hand and "@dirk" in by_hand


@pytest.mark.parametrize("language", LANGUAGES)
def test_requests_fit_bluesky_and_mastodon_with_a_long_handle(language):
    handle = "@" + "photographe-de-bruxelles-" * 2 + "x.bsky.social"  # 64 characters
    sky = render(language, mention=handle, link=LINK, network="bluesky")
    assert graphemes(sky) <= 300 and handle in sky and LINK in sky
    assert len(render(language, mention="@" + "a" * 30 + "@" + "b" * 60 + ".social", link=LINK,
                      network="fediverse")) <= 500


def test_the_short_form_is_used_when_the_long_one_does_not_fit_and_nothing_fits_is_an_error():
    long_form = render("en", mention="@dirk.bsky.social", link=LINK, network="bluesky")
    huge = "@" + "a" * 120 + ".bsky.social"
    short_form = render("en", mention=huge, link=LINK, network="bluesky")
    assert long_form.startswith("Hi @dirk.bsky.social!") and short_form.startswith(huge + " Your photo")
    assert graphemes(short_form) <= 300
    with pytest.raises(TooLong, match="more than the 300 bluesky allows"):
        render("en", mention="@" + "a" * 250 + ".bsky.social", link=LINK, network="bluesky")


def test_the_configs_template_replaces_ours_and_is_checked_against_the_limit():
    custom = {"nl": "Dag {mention}, mogen we je foto delen? {link} {answer}"}
    text = render("nl", mention="@dirk", link=LINK, network="bluesky", overrides=custom)
    assert text == f"Dag @dirk, mogen we je foto delen? {LINK} Antwoord #ja of #nee op dit bericht. Dank je!"
    assert render("fr", mention="@dirk", link=LINK, network="bluesky", overrides=custom).startswith("Bonjour")
    with pytest.raises(TooLong, match=r"shorten \[consent\] templates.nl"):
        render("nl", mention="@dirk", link=LINK, network="bluesky", overrides={"nl": "x" * 300 + " {mention} {link}"})


def test_graphemes_count_what_a_person_sees():
    assert graphemes("e\u0301") == 1  # e + combining acute
    assert graphemes("👍🏽") == 1  # thumbs up, skin tone
    assert graphemes("👩\u200d👩\u200d👧") == 1  # a family: one emoji of three joined
    assert graphemes("❤\ufe0f!") == 2


def test_a_placeholder_in_the_photographers_name_or_link_is_left_as_written():
    """The mention and the link come from the platform: braces in them are their words, not our template's."""
    text = render("en", mention="@{answer}", link="https://x.example/{mention}", network="fediverse",
                  overrides={"en": "Hi {mention}: {link}\n{answer}"})
    assert text == "Hi @{answer}: https://x.example/{mention}\nReply #yes or #no to this message. Thank you!"

