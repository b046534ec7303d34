"""The answer parser on replies as photographers write them: plain answers count, anything else goes to a person."""

from __future__ import annotations

import pytest

from consent.answers import parse_answer

REQUEST = ("@alice@fake.social Bonjour ! Nous aimerions partager votre photo sur WeLoveBrussels.\n"
           "Répondez #oui pour accepter ou #non pour refuser. https://photos.example/items/12")

YES = [
    "#yes", "#oui", "#ja", "#Oui", "yes", "Yes!", "yes please", "Yesss 🙂", "sure", "Sure thing!", "ok", "OK 👍",
    "oui", "oui !", "Oui!", "OUI", "ouais", "avec plaisir", "Avec plaisir 😊", "volontiers", "bien sûr",
    "Pas de problème", "pourquoi pas", "d'accord", "ja", "Ja graag", "graag", "mag", "ja hoor", "geen probleem",
    "natuurlijk mag het", "met plezier!", "👍", "👍🏽", "❤️", "❤️❤️", "no problem", "no worries, go ahead",
    "@welovebrussels yes", "@welovebrussels@mastodon.social oui avec plaisir ! #welovebrussels",
    "Yes of course, thanks for asking", "Merci ! Oui avec plaisir", "Dank je, ja graag!",
    "> Répondez #oui pour accepter ou #non pour refuser.\nOui", "why not", "feel free 😍",
]
NO = [
    "#no", "#non", "#nee", "no", "No.", "no thanks", "No thank you", "non", "Non merci", "nee", "Nee bedankt",
    "liever niet", "Liever niet, sorry", "pas d'accord", "je préfère pas", "👎", "❌", "nope", "@welovebrussels non",
    "I'd rather not", "please don't", "mag niet", "Non, désolée", "nee dank je",
]
UNCLEAR = [
    "", "hello", "who are you?", "oui?", "not yes", "pas oui", "niet ja", "oui mais non", "yes but credit my insta",
    "ja, maar niet op Facebook", "oui si tu mets mon nom", "yes only on Mastodon", "yes no", "👍👎",
    "je ne sais pas, oui peut-être", "what is this for", "Can I think about it", "ok maar alleen met mijn naam",
    "#oui #non", "I don't know yes", "Thanks!", "merci", "https://example.com/yes",
    # Quoting our whole request back (both #oui and #non) with nothing of their own:
    REQUEST,
]


@pytest.mark.parametrize("reply", YES)
def test_plain_yes(reply):
    assert parse_answer(reply, ours=REQUEST) == "yes"


@pytest.mark.parametrize("reply", NO)
def test_plain_no(reply):
    assert parse_answer(reply, ours=REQUEST) == "no"


@pytest.mark.parametrize("reply", UNCLEAR)
def test_anything_else_is_for_a_person(reply):
    assert parse_answer(reply, ours=REQUEST) is None


def test_mentions_and_our_own_tag_do_not_count():
    """A handle or a hashtag that looks like an answer is not one: @yes, @nee@host, #welovebrussels."""
    assert parse_answer("@yes@fake.social") is None
    assert parse_answer("@nee hello") is None
    assert parse_answer("#welovebrussels") is None
    assert parse_answer("#ok", own_names=("ok",)) is None


def test_a_huge_reply_is_read_only_so_far():
    assert parse_answer("blah " * 10_000 + "yes") is None
    assert parse_answer("yes " + "🙂" * 5000) == "yes"


def test_our_french_request_quoted_as_mastodon_renders_it_is_not_her_yes():
    """A client quoting our reply shows the mention as "@alice" (Mastodon's rendered HTML), not "@alice@host" as we
    wrote it; its first French line says "bien sûr", which is ours, not hers."""
    from core.consent_text import render
    from core.html_text import html_to_text

    ours = render("fr", mention="@alice@pix.example", link="https://wlb.example/items/1.html", network="fediverse")
    mention = '<span class="h-card"><a href="https://pix.example/@alice" class="u-url mention">@<span>alice</span></a>'
    quoted = (f"<blockquote><p>Bonjour {mention}</span> ! Votre photo nous a fait craquer 💛 Nous aimerions la partager "
              f"sur WeLoveBrussels, avec votre nom bien sûr : <a href=\"https://wlb.example/items/1.html\"><span "
              f"class=\"invisible\">https://</span><span>wlb.example/items/1.html</span></a><br>Répondez #oui ou #non à "
              f"ce message. Merci !</p></blockquote>")
    assert parse_answer(html_to_text(quoted + "<p>Qui êtes-vous</p>"), ours=ours) is None
    assert parse_answer(html_to_text(quoted + "<p>Non merci</p>"), ours=ours) == "no"
    assert parse_answer(html_to_text(quoted + "<p>Oui, avec plaisir</p>"), ours=ours) == "yes"
    wrapped = "Nous aimerions la partager sur WeLoveBrussels,\navec votre nom bien sûr\n\nc'est pour quoi"
    assert parse_answer(wrapped, ours=ours) is None


@pytest.mark.parametrize("reply", ["of course not", "Of course not!", "bien sûr que non", "with pleasure... not",
                                   "no problem? not really", "natuurlijk niet", "sure thing, not"])
def test_a_negated_yes_phrase_is_not_a_yes(reply):
    assert parse_answer(reply, ours=REQUEST) != "yes"


@pytest.mark.parametrize("reply", ["ja, nein", "Ja... nein, lieber nicht", "yes？", "oui ¿", "ja؟", "yes﹖", "oui‽",
                                   "ok ❓", "yes maybe", "maybe yes", "oui peut-être", "ja misschien", "perhaps, sure",
                                   "Yes for 50€", "yes, pay me first", "Oui pour 100 euros", "ja, tegen betaling",
                                   "ok if you pay", "sure, $20"])
def test_a_yes_with_a_no_in_german_a_question_a_doubt_or_a_price_is_for_a_person(reply):
    assert parse_answer(reply, ours=REQUEST) is None


@pytest.mark.parametrize("reply", ["nein", "Nein danke", "I don't mind", "I do not mind 🙂"])
def test_german_no_and_dont_mind(reply):
    assert parse_answer(reply, ours=REQUEST) == ("yes" if "mind" in reply else "no")
