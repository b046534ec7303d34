"""Automatic rules: each rule rejects what it should and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from core.settings import RulesSettings
from curation.rules import check_rules

BIG = [(1200, 900)]


def _check(rules: RulesSettings | None = None, *, author: str = "alice@example.org", text: str = "Grand-Place",
           spoiler_text: str = "", sensitive: bool = False, language: str | None = "fr",
           sizes: Sequence[tuple[int, int]] = BIG) -> list[str]:
    return check_rules(rules or RulesSettings(), author=author, text=text, spoiler_text=spoiler_text,
                       sensitive=sensitive, language=language, sizes=sizes)


def test_an_ordinary_post_goes_to_review() -> None:
    assert _check() == []


@pytest.mark.parametrize("author", ["spam@bad.example", "@Spam@Bad.Example", " SPAM@bad.example"])
def test_blocked_author_by_exact_handle_ignoring_case_and_leading_at(author: str) -> None:
    [reason] = _check(RulesSettings(blocked_authors=["spam@bad.example"]), author=author)
    assert "spam@bad.example" in reason and "blocked_authors" in reason


def test_blocked_instance_with_a_wildcard() -> None:
    rules = RulesSettings(blocked_authors=["*@Bad.Example"])
    assert len(_check(rules, author="anyone@bad.example")) == 1
    assert _check(rules, author="anyone@notbad.example") == []
    assert _check(rules, author="anyone@bad.example.org") == []
    assert _check(rules, author="bad.example") == []


def test_a_blocked_handle_does_not_block_a_similar_one() -> None:
    rules = RulesSettings(blocked_authors=["spam@bad.example"])
    assert _check(rules, author="spam@bad.example.org") == []
    assert _check(rules, author="nospam@bad.example") == []


def test_our_own_accounts_are_not_reposted() -> None:
    rules = RulesSettings(own_accounts=["@WeLoveBrussels@mastodon.social", "*@pixelfed.brussels"])
    assert _check(rules, author="welovebrussels@mastodon.social") == [
        "posted by our own account welovebrussels@mastodon.social"]
    assert _check(rules, author="someone@pixelfed.brussels") == ["posted by our own account someone@pixelfed.brussels"]
    assert _check(rules, author="welovebrussels@other.social") == []


@pytest.mark.parametrize(("text", "spoiler"), [
    ("Sunset at the ASS meeting", ""),
    ("sunset, ass!", ""),
    ("#ass tonight", ""),
    ("nice view", "Ass"),
])
def test_blocked_word_as_a_whole_word_in_text_or_content_warning(text: str, spoiler: str) -> None:
    [reason] = _check(RulesSettings(blocked_words=["ass"], sensitive="review"), text=text, spoiler_text=spoiler)
    assert reason == "contains the blocked word 'ass' (blocked_words)"


@pytest.mark.parametrize("text", ["Brasserie de la Senne", "class trip", "assemblée", "passage", "Bass guitar"])
def test_blocked_word_inside_another_word_is_not_blocked(text: str) -> None:
    assert _check(RulesSettings(blocked_words=["ass"]), text=text) == []


def test_blocked_words_ignore_accents_and_match_phrases_across_spaces() -> None:
    rules = RulesSettings(blocked_words=["crème brûlée", "Gare du Midi"])
    assert _check(rules, text="CREME   BRULEE at the market") == [
        "contains the blocked word 'crème brûlée' (blocked_words)"]
    assert _check(rules, text="la gare du midi, 7h") == ["contains the blocked word 'Gare du Midi' (blocked_words)"]
    assert _check(rules, text="crème glacée, gare du nord") == []


def test_a_phrase_does_not_span_the_text_and_the_content_warning() -> None:
    rules = RulesSettings(blocked_words=["gare du"], sensitive="review")
    assert _check(rules, text="near the gare", spoiler_text="du midi") == []


def test_sensitive_posts_are_skipped_or_reviewed_as_configured() -> None:
    skip, review = RulesSettings(sensitive="skip"), RulesSettings(sensitive="review")
    assert _check(skip, sensitive=True) == ['marked sensitive (sensitive = "skip")']
    assert _check(skip, spoiler_text="flash photography") == [
        "has a content warning 'flash photography' (sensitive = \"skip\")"]
    assert _check(skip, spoiler_text="   ") == []
    assert _check(review, sensitive=True, spoiler_text="flash photography") == []


def test_languages_limit_known_languages_only() -> None:
    rules = RulesSettings(languages=["fr", "nl", "en"])
    assert _check(rules, language="fr") == []
    assert _check(rules, language="NL-be") == []
    assert _check(rules, language=None) == []
    assert _check(rules, language="") == []
    assert _check(rules, language="de") == ["language 'de' is not one of fr, nl, en (languages)"]
    assert _check(RulesSettings(), language="de") == []


def test_size_needs_one_image_meeting_both_minimums() -> None:
    rules = RulesSettings(min_width=600, min_height=600)
    assert _check(rules, sizes=[(400, 300), (600, 600)]) == []
    assert _check(rules, sizes=[(400, 300), (599, 2000), (200, 100)]) == ["image too small: 599x2000, minimum 600x600"]
    assert _check(rules, sizes=[(400, 300)]) == ["image too small: 400x300, minimum 600x600"]
    assert _check(RulesSettings(min_width=0, min_height=0), sizes=[(1, 1)]) == []
    assert _check(rules, sizes=[]) == ["no usable image"]


def test_every_broken_rule_is_reported() -> None:
    rules = RulesSettings(blocked_authors=["*@bad.example"], blocked_words=["spam"], languages=["fr"])
    reasons = _check(rules, author="x@bad.example", text="spam", sensitive=True, language="de", sizes=[(10, 10)])
    assert len(reasons) == 5
