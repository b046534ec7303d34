"""Repost text: Mastodon's length rule, handles, and fitting the caption around the credit."""

from __future__ import annotations

import pytest

from core.settings import DEFAULT_TEMPLATE
from publisher.credit import CreditInput, Limits, compose, fediverse_handle, mastodon_length

CREDIT = "@alice@fake.social"
URL = "https://fake.social/@alice/109876543210987654"


def data(caption: str, **kw) -> CreditInput:
    kw.setdefault("credit", CREDIT)
    kw.setdefault("url", URL)
    kw.setdefault("hashtags", ["welovebrussels"])
    return CreditInput(caption=caption, **kw)


def tail(credit: str = CREDIT, url: str = URL, tags: str = "#welovebrussels") -> str:
    return f"📷 {credit} · {url}\n{tags}"


# --- mastodon_length ---------------------------------------------------------------------------


def test_plain_text_counts_code_points():
    assert mastodon_length("") == 0
    assert mastodon_length("Bruxelles, été") == 14
    assert mastodon_length("📷🇧🇪") == 3  # camera + two regional indicators


def test_any_url_counts_url_chars():
    long_url = "https://example.com/" + "a" * 200 + "?q=1&r=2#frag"
    assert mastodon_length(long_url) == 23
    assert mastodon_length("https://x.co") == 23
    assert mastodon_length(f"see {long_url} now") == 4 + 23 + 4
    assert mastodon_length(long_url, url_chars=30) == 30
    assert mastodon_length(f"{long_url} {long_url}") == 23 + 1 + 23


def test_url_needs_a_scheme_and_stops_before_trailing_punctuation():
    assert mastodon_length("example.com/abcdefghijklmnopqrstuvwxyz") == 38
    assert mastodon_length("(https://example.com/a).") == 1 + 23 + 2
    assert mastodon_length("https://example.com/a…") == 23 + 1


def test_mention_counts_only_the_username():
    assert mastodon_length("@alice@fake.social") == len("@alice")
    assert mastodon_length("thanks @Bob_2@Other.Example.org!") == len("thanks @Bob_2!")
    assert mastodon_length("@carol") == 6


def test_mention_is_not_found_inside_email_or_url():
    assert mastodon_length("mail bob@example.org") == 20
    assert mastodon_length("https://fake.social/@alice/1") == 23


# --- fediverse_handle --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("acct", "host", "expected"),
    [
        ("alice", "fake.social", "@alice@fake.social"),
        ("bob@other.example", "fake.social", "@bob@other.example"),
        ("@bob@Other.Example", "fake.social", "@bob@other.example"),
        ("@Alice", "Fake.Social", "@Alice@fake.social"),
    ],
)
def test_fediverse_handle(acct, host, expected):
    assert fediverse_handle(acct, host) == expected


def test_fediverse_handle_rejects_an_empty_account():
    with pytest.raises(ValueError, match="acct"):
        fediverse_handle("@", "fake.social")


# --- compose -----------------------------------------------------------------------------------


def test_short_caption_is_kept_whole():
    text = compose(DEFAULT_TEMPLATE, data("Grand-Place at dusk ✨"), Limits())
    assert text == "Grand-Place at dusk ✨\n\n" + tail()


def test_caption_cleanup_collapses_blank_lines_and_strips():
    text = compose(DEFAULT_TEMPLATE, data("\n\n  First line  \n\n\n\n\nSecond line\n\n"), Limits())
    assert text == "First line\n\nSecond line\n\n" + tail()


def test_credit_and_url_intact_for_a_huge_caption():
    caption = " ".join(f"mot{i}" for i in range(1000))  # ~6,000 characters
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits())
    assert text.endswith("\n\n" + tail())
    assert mastodon_length(text) <= 500
    head = text.split("\n\n📷")[0]
    assert head.endswith("…")
    assert caption.startswith(head[:-1] + " ")  # cut between two words
    next_word = caption[len(head) :].split()[0]
    longer = text.replace(head, head[:-1] + " " + next_word + "…")
    assert mastodon_length(longer) > 500  # no room was wasted


def test_long_url_counts_23_so_more_caption_fits():
    long_url = "https://fake.social/@alice/" + "9" * 300
    caption = " ".join(["word"] * 200)
    text = compose(DEFAULT_TEMPLATE, data(caption, url=long_url), Limits())
    assert long_url in text
    assert len(text) > 500  # only possible because the link counts 23
    assert mastodon_length(text) <= 500


def test_mention_counts_as_username_when_fitting():
    caption = " ".join(["ab"] * 300)
    long_domain = "@alice@" + "sub." * 30 + "example.social"
    text = compose(DEFAULT_TEMPLATE, data(caption, credit=long_domain), Limits())
    assert long_domain in text
    assert 497 <= mastodon_length(text) <= 500
    assert len(text) > 500


def test_emoji_caption_is_cut_between_words():
    caption = "🌇 🇧🇪 " * 200
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits())
    head = text.split("\n\n📷")[0]
    assert head.endswith("🇧🇪…") or head.endswith("🌇…")
    assert mastodon_length(text) <= 500
    assert mastodon_length(text) >= 495


def test_exact_fit_is_not_shortened():
    fixed = mastodon_length("\n\n" + tail())
    caption = "a" * (500 - fixed)
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits())
    assert mastodon_length(text) == 500
    assert text.startswith(caption + "\n\n")


def test_one_over_is_shortened_at_the_last_word():
    fixed = mastodon_length("\n\n" + tail())
    caption = "Manneken Pis " + "b" * (500 - fixed - 13) + "c"
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits())
    assert text == "Manneken Pis…\n\n" + tail()


def test_clause_punctuation_is_dropped_before_the_ellipsis():
    caption = "Atomium, Laeken; " + "x" * 600
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits(max_chars=200))
    assert text.startswith("Atomium, Laeken…\n\n")


def test_unbroken_caption_keeps_its_beginning():
    caption = "布鲁塞尔大广场" * 100  # no spaces at all
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits())
    head = text.split("\n\n📷")[0]
    assert head.endswith("…") and caption.startswith(head[:-1])
    assert mastodon_length(text) == 500


def test_duplicate_hashtag_is_not_repeated():
    post = data("Sunset #WeLoveBrussels", hashtags=["welovebrussels", "brussels"])
    text = compose(DEFAULT_TEMPLATE, post, Limits())
    assert text == "Sunset #WeLoveBrussels\n\n" + tail(tags="#brussels")


def test_hashtag_match_is_whole_word():
    caption = "#welovebrusselsfood and #brussels_night"
    text = compose(DEFAULT_TEMPLATE, data(caption, hashtags=["#welovebrussels", "brussels"]), Limits())
    assert text.endswith("\n#welovebrussels #brussels")


def test_hashtags_are_deduplicated_and_cleaned():
    text = compose(DEFAULT_TEMPLATE, data("x", hashtags=["#Brussels", "brussels", " ", "bxl"]), Limits())
    assert text.endswith("\n#Brussels #bxl")


def test_hashtag_cut_from_the_caption_moves_to_the_tag_line():
    caption = "Matin " + "z" * 600 + " #welovebrussels"
    text = compose(DEFAULT_TEMPLATE, data(caption), Limits(max_chars=200))
    assert text == "Matin…\n\n" + tail()


def test_no_hashtags_leaves_no_trailing_line():
    text = compose(DEFAULT_TEMPLATE, data("Hi", hashtags=[]), Limits())
    assert text == "Hi\n\n📷 @alice@fake.social · " + URL


def test_empty_caption_leaves_no_leading_blank_lines():
    text = compose(DEFAULT_TEMPLATE, data("  \n\n "), Limits())
    assert text == tail()


def test_removed_caption_leaves_no_blank_lines_in_the_middle():
    template = "{credit}\n\n{caption}\n\n{hashtags}\n{url}"
    text = compose(template, data("", hashtags=[]), Limits())
    assert text == f"{CREDIT}\n\n{URL}"


def test_author_name_field():
    template = "{caption}\n— {author_name} ({credit}) {url}"
    text = compose(template, data("Bonjour", author_name="Alice Dupont"), Limits())
    assert text == f"Bonjour\n— Alice Dupont ({CREDIT}) {URL}"


def test_caption_with_braces_is_not_reformatted():
    text = compose(DEFAULT_TEMPLATE, data("{url} {unknown}"), Limits())
    assert text.startswith("{url} {unknown}\n\n")


@pytest.mark.parametrize("template", ["{caption} {licence} {url}", "{caption.upper} {url}", "{} {url}"])
def test_unknown_field_is_an_error(template):
    with pytest.raises(ValueError, match=r"unknown field \{.*\} in the publish template"):
        compose(template, data("x"), Limits())


def test_unknown_field_in_a_format_spec_is_an_error():
    with pytest.raises(ValueError, match=r"unknown field \{secret\}"):
        compose("{caption:{secret}} {url}", data("x"), Limits())


def test_malformed_template_is_an_error():
    with pytest.raises(ValueError, match="malformed"):
        compose("{caption {url}", data("x"), Limits())


def test_credit_too_long_is_an_error_naming_both_numbers():
    credit = " ".join(["Alice"] * 100)
    with pytest.raises(ValueError, match=r"credit line alone is (\d+) characters.*limit of 100") as err:
        compose(DEFAULT_TEMPLATE, data("caption", credit=credit), Limits(max_chars=100))
    expected = mastodon_length(tail(credit=credit))
    assert f"alone is {expected} characters" in str(err.value)


def test_custom_length_function_is_used():
    calls: list[str] = []

    def by_bytes(text: str) -> int:
        calls.append(text)
        return len(text.encode())

    caption = "é " * 100
    post = data(caption, url="https://x.be")
    text = compose("{caption} {url}", post, Limits(max_chars=60), length=by_bytes)
    assert len(text.encode()) <= 60
    assert len(text.encode()) >= 57
    assert calls and all(isinstance(c, str) for c in calls)


def test_limits_url_chars_is_used_by_default():
    caption = " ".join(["w"] * 300)
    short = compose("{caption} {url}", data(caption), Limits(max_chars=100, url_chars=23))
    long = compose("{caption} {url}", data(caption), Limits(max_chars=100, url_chars=60))
    assert mastodon_length(short) == mastodon_length(short, 23) <= 100
    assert mastodon_length(long, 60) <= 100
    assert len(long) < len(short)
