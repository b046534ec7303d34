"""core.bounds: what identifies a post must be valid, what decorates it is cut to size, dates are clamped."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from platforms.registry import PLATFORMS

from core.bounds import (ALT_MAX, NAME_MAX, TEXT_MAX, URL_MAX, WATERMARK_MAX, Skip, as_int, bound_post, bound_watermark,
                         is_web_url)
from core.posts import AuthorData, MediaData, PostData

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def post(**changes) -> PostData:
    base = PostData(key="https://x.example/users/a/statuses/1", remote_id="1", url="https://x.example/@a/1",
                    author=AuthorData(handle="a@x.example", name="A", profile_url="https://x.example/@a"),
                    created_at=datetime(2025, 5, 1, tzinfo=UTC), text="hello", language="fr",
                    media=(MediaData(url="https://x.example/m/1.jpg", alt_text="a tram"),))
    return dataclasses.replace(base, **changes)


def author(**changes) -> AuthorData:
    return dataclasses.replace(post().author, **changes)


def media(**changes) -> MediaData:
    return dataclasses.replace(post().media[0], **changes)


def test_a_valid_post_passes_unchanged():
    assert bound_post(post(), "mastodon", NOW) == post()


@pytest.mark.parametrize(("changes", "reason"), [
    ({"key": ""}, "key missing"),
    ({"key": ["https://x.example/1"]}, "key missing"),
    ({"key": "https://x.example/" + "k" * URL_MAX}, "key too long"),
    ({"key": "https://x.example/\x00"}, "key has a NUL character"),
    ({"remote_id": 12}, "id missing"),
    ({"remote_id": "9" * 257}, "id too long"),
    ({"url": "javascript:alert(1)"}, "post url not a valid"),
    ({"url": "https://x.example/" + "u" * URL_MAX}, "post url not a valid"),
    ({"url": {"href": "https://x.example/1"}}, "post url not a valid"),
    ({"author": author(handle="h" * 321)}, "author handle too long"),
    ({"author": author(handle="")}, "author handle missing"),
    ({"author": author(handle="a", uid="did:plc:" + "z" * 600)}, "author id too long"),
    ({"author": None}, "no author"),
    ({"media": (media(url="file:///etc/passwd"),)}, "media url not a valid"),
    ({"media": (media(url="https://x.example/" + "m" * URL_MAX),)}, "media url"),
    ({"created_at": "2025-05-01T00:00:00Z"}, "no date"),
])
def test_what_identifies_a_post_must_be_valid_or_the_post_is_skipped(changes, reason):
    with pytest.raises(Skip, match=reason):
        bound_post(post(**changes), "mastodon", NOW)


def test_what_decorates_a_post_is_cut_to_its_column():
    bounded = bound_post(post(text="t" * 100_000, language="x" * 17, spoiler_text=["cw"], title="\x00T",
                              author=author(name="n" * 10_000, profile_url="https://x.example/" + "p" * 3000),
                              media=(media(alt_text="a" * 50_000, width=-5, height=True),),
                              license="CC BY " + "9" * 200, license_url="ftp://x.example/licence",
                              sensitive="false"), "mastodon", NOW)
    assert len(bounded.text) == TEXT_MAX and bounded.language is None and bounded.spoiler_text == ""
    assert bounded.title == "T", "PostgreSQL refuses NUL characters in text"
    assert len(bounded.author.name) == NAME_MAX and bounded.author.profile_url == ""
    m = bounded.media[0]
    assert len(m.alt_text) == ALT_MAX and (m.width, m.height) == (None, None)
    assert bounded.license is None and bounded.license_url is None, "an odd licence is dropped, never shortened"
    assert bounded.sensitive is True, "anything but a clear False is treated as sensitive"


def test_a_remote_url_that_is_not_http_is_dropped_but_the_media_kept():
    bounded = bound_post(post(media=(media(remote_url="gopher://x.example/1"),)), "mastodon", NOW)
    assert bounded.media[0].remote_url is None and bounded.media[0].url == "https://x.example/m/1.jpg"


def test_a_date_without_a_time_zone_is_read_as_utc():
    bounded = bound_post(post(created_at=datetime(2025, 5, 1, 10, 30)), "mastodon", NOW)
    assert bounded.created_at == datetime(2025, 5, 1, 10, 30, tzinfo=UTC) and bounded.flags == ()


def test_a_date_in_another_zone_is_stored_in_utc():
    bounded = bound_post(post(created_at=datetime(2025, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))),
                         "pixelfed", NOW)
    assert bounded.created_at == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "date", "flag"), [
    ("mastodon", datetime(2001, 1, 1, tzinfo=UTC), "dated 2001-01-01, before mastodon existed (2016-03-16)"),
    ("pixelfed", datetime(2018, 1, 1, tzinfo=UTC), "before pixelfed existed"),
    ("bluesky", datetime(2022, 12, 31, tzinfo=UTC), "before bluesky existed"),
    ("flickr", datetime(2003, 1, 1, tzinfo=UTC), "before flickr existed"),
    ("rss", datetime(1970, 1, 1, tzinfo=UTC), "before rss existed"),
    ("mastodon", NOW + timedelta(days=2), "in the future"),
    ("rss", datetime(2204, 1, 1, tzinfo=UTC), "dated 2204-01-01, in the future"),
])
def test_impossible_dates_are_clamped_to_the_collection_time_and_flagged(kind, date, flag):
    bounded = bound_post(post(created_at=date, flags=("earlier flag",)), kind, NOW, launched=PLATFORMS[kind].launched)
    assert bounded.created_at == NOW
    assert bounded.flags[0] == "earlier flag" and flag in bounded.flags[1]


def test_dates_within_a_day_ahead_and_after_the_platform_began_are_kept():
    for kind, date in [("mastodon", NOW + timedelta(hours=20)), ("flickr", datetime(2004, 3, 1, tzinfo=UTC)),
                       ("bluesky", datetime(2023, 3, 1, tzinfo=UTC))]:
        assert bound_post(post(created_at=date), kind, NOW, launched=PLATFORMS[kind].launched).created_at == date


def test_too_many_attachments_are_cut_at_twenty():
    many = tuple(media(url=f"https://x.example/m/{n}.jpg") for n in range(500))
    assert len(bound_post(post(media=many), "pixelfed", NOW).media) == 20


@pytest.mark.parametrize("url", ["https://x.example/a", "http://x.example:8080/a?b=c"])
def test_web_urls(url):
    assert is_web_url(url)


@pytest.mark.parametrize("url", ["", "x.example/a", "data:image/png;base64,AA", "https:///a", "https://x.example/a b",
                                 None, 5, "https://x.example/\x00"])
def test_not_web_urls(url):
    assert not is_web_url(url)


def test_watermarks_that_do_not_fit_their_column_are_not_stored():
    assert bound_watermark("110") == "110"
    assert bound_watermark("1" * WATERMARK_MAX) == "1" * WATERMARK_MAX, "the column is text since schema version 6"
    assert bound_watermark("1" * (WATERMARK_MAX + 1)) is None and bound_watermark(110) is None
    assert bound_watermark("") is None and bound_watermark('{"e":"\x00"}') is None


@pytest.mark.parametrize(("value", "expected"), [
    (640, 640), ("640", 640), (" 640 ", 640), ("640px", 640), (640.0, 640), ("-3", -3), ("1712509720", 1712509720),
    (None, None), ("", None), ("6 40", None), ("1.5", None), (1.5, None), (True, None), ([640], None),
    ({"w": 1}, None), ("9" * 5000, None), (float("nan"), None),
])
def test_as_int_reads_a_number_however_a_platform_wrote_it(value, expected):
    assert as_int(value) == expected
