"""RSS/Atom collector against feed fixtures served on 127.0.0.1, through the real Http client."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from collector.feed_media import read_items
from app.pipeline import collector_for as build_collector
from collector.rss import MAX_DIGESTS, VALIDATOR_MAX, FeedCollector, FeedMark
from core.bounds import WATERMARK_MAX
from core.errors import PlatformError
from core.http import BlockedAddress, Http, TooLarge
from core.settings import ChannelSettings, NetworkSettings, Settings
from tests.fakes.feeds import FakeFeeds, fixture

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def feeds():
    with FakeFeeds() as fake:
        yield fake


def collector(fake: FakeFeeds, url: str, *, hashtags: list[str] | None = None, max_bytes: int = 1_000_000,
              net: NetworkSettings | None = None) -> FeedCollector:
    http = Http(net or NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    return FeedCollector(http, url, hashtags=hashtags, unit_tag="welovebrussels", max_bytes=max_bytes,
                         now=lambda: NOW)


def collect(fake: FakeFeeds, name: str, watermark: str | None = None, **kw):
    (page,) = list(collector(fake, f"{fake.base_url}/feeds/{name}", **kw).pages("welovebrussels", watermark))
    return page


def test_rss_enclosures_with_image_types_become_posts(feeds):
    url = feeds.add_feed("rss_enclosures.xml")
    page = collect(feeds, "rss_enclosures.xml")
    galeries, atomium = page.posts
    assert page.skipped == {"no image": 1} and page.fetched == 3, "the audio-only podcast entry"
    # A bare guid is unique only within its feed, so the key carries the feed URL.
    assert galeries.key == f"{url}#potd-103" and galeries.remote_id == "potd-103"
    assert galeries.url == f"{feeds.base_url}/potd/2026/11/20/galeries/"
    assert galeries.created_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert (galeries.author.handle, galeries.author.name, galeries.author.network) == \
        ("marie dubois@127.0.0.1", "Marie Dubois", "web")
    assert galeries.author.profile_url == f"{feeds.base_url}/potd/"
    assert galeries.text == "Première neige sur les Galeries #welovebrussels"
    assert galeries.title == "Les Galeries Royales sous la neige"
    assert galeries.language == "fr-BE"
    assert galeries.license is None, "feeds carry no licence metadata"
    assert [m.url for m in galeries.media] == [f"{feeds.base_url}/img/potd-103.jpg"]
    assert atomium.key == atomium.url == f"{feeds.base_url}/potd/2026/11/18/atomium/"
    assert atomium.author.name == "Jan Peeters", "RSS <author> is 'email (name)'"
    assert [m.url.rsplit("/", 1)[1] for m in atomium.media] == ["potd-101a.png", "potd-101b.jpg"]


def test_atom_media_content_is_preferred_to_thumbnails_and_videos_are_skipped(feeds):
    feeds.add_feed("atom_media.xml")
    page = collect(feeds, "atom_media.xml")
    canal, flagey = page.posts
    assert page.skipped == {"no image": 1}, "the media:content video entry"
    assert canal.key == "tag:fotoclub.example,2026:entry-7"
    assert canal.created_at == datetime(2026, 11, 20, 8, 15, tzinfo=UTC), "published, not updated"
    (image,) = canal.media
    assert (image.url, image.width, image.height) == (f"{feeds.base_url}/img/kanaal.jpg", 1600, 1067)
    assert canal.author.profile_url == f"{feeds.base_url}/fotoclub/leden/pieter/"
    assert canal.language == "nl"
    assert flagey.media[0].url.endswith("/img/flagey-thumb.jpg"), "a thumbnail when nothing else"
    assert flagey.created_at == datetime(2026, 11, 18, 12, 0, tzinfo=UTC), "updated when not published"
    assert flagey.author.name == "Fotoclub Brussel", "the feed's author when the entry names none"


def test_blog_entries_use_the_first_real_img_in_their_content(feeds):
    feeds.add_feed("blog_img.xml")
    page = collect(feeds, "blog_img.xml")
    senne, arcade = page.posts
    assert page.skipped == {"no image": 1}
    (image,) = senne.media
    assert image.url == f"{feeds.base_url}/img/senne.jpg", "relative src resolved; the 1x1 pixel left out"
    assert (image.alt_text, image.width, image.height) == ("The Senne at Anderlecht", 1200, 800)
    assert arcade.media[0].url == f"{feeds.base_url}/img/arcade.jpg", "not Blogger's 72 px thumbnail"
    # No author element anywhere: queued for a reviewer's credit, never credited to the blog's title or host.
    assert senne.needs_credit and (senne.author.handle, senne.author.name, senne.author.network) == ("", "", "web")
    assert senne.author.uid.startswith("uncredited:") and senne.author.authoritative is False
    assert senne.text == "Riding along the Senne today.\n\nMore soon. #WeLoveBrussels"


def test_a_pixelfed_profile_feed(feeds):
    feeds.add_feed("pixelfed_profile.atom")
    sablon, parc = collect(feeds, "pixelfed_profile.atom").posts
    assert sablon.key == sablon.url == f"{feeds.base_url}/p/lea/700000000000000002"
    assert (sablon.author.handle, sablon.author.profile_url) == ("lea@127.0.0.1", f"{feeds.base_url}/lea")
    assert sablon.text == "Sablon le dimanche #welovebrussels"
    assert sablon.title is None, "the title only repeats the caption"
    assert sablon.media[0].alt_text == "Antique market at the Sablon", "alt from the content's <img>"
    assert parc.title is None and parc.text == "", "'No caption' is Pixelfed's placeholder"
    assert sablon.created_at == datetime(2026, 11, 20, 11, 2, 3, tzinfo=UTC)


def test_the_next_run_sends_a_conditional_get_and_a_304_costs_one_request(feeds):
    feeds.add_feed("pixelfed_profile.atom")
    first = collect(feeds, "pixelfed_profile.atom")
    etag = feeds.feeds["pixelfed_profile.atom"]["etag"]
    assert FeedMark.decode(first.watermark)[:2] == (etag, "Fri, 20 Nov 2026 12:00:00 GMT")
    again = collect(feeds, "pixelfed_profile.atom", first.watermark)
    request = feeds.feed_requests("pixelfed_profile.atom")[-1]
    assert request.headers["if-none-match"] == etag
    assert request.headers["if-modified-since"] == "Fri, 20 Nov 2026 12:00:00 GMT"
    assert len(feeds.requests) == 2 and again.posts == [] and again.watermark is None
    assert "application/atom+xml" in feeds.feed_requests("pixelfed_profile.atom")[0].headers["accept"]


def test_only_entries_newer_than_the_watermark_even_when_the_server_ignores_validators(feeds):
    feeds.add_feed("rss_enclosures.xml", conditional=False)
    first = collect(feeds, "rss_enclosures.xml")
    unchanged = collect(feeds, "rss_enclosures.xml", first.watermark)
    assert unchanged.posts == [] and unchanged.fetched == 0
    newer = fixture("rss_enclosures.xml", feeds.base_url).replace("<item>", """<item>
      <title>Same second, other entry</title><link>{b}/potd/same/</link><guid isPermaLink="false">potd-104</guid>
      <pubDate>Fri, 20 Nov 2026 08:30:00 +0000</pubDate><enclosure url="{b}/img/same.jpg" type="image/jpeg"/>
    </item><item>
      <title>Tomorrow</title><link>{b}/potd/next/</link><guid isPermaLink="false">potd-105</guid>
      <pubDate>Sat, 21 Nov 2026 08:30:00 +0000</pubDate><enclosure url="{b}/img/next.jpg" type="image/jpeg"/>
    </item><item>""".replace("{b}", feeds.base_url), 1)
    feeds.add_feed("rss_enclosures.xml", newer, conditional=False)
    later = collect(feeds, "rss_enclosures.xml", unchanged.watermark)
    assert [p.remote_id for p in later.posts] == ["potd-104", "potd-105"]
    assert later.fetched == 2, "the three entries read before are not parsed again"
    assert collect(feeds, "rss_enclosures.xml", later.watermark).posts == []


def test_with_channel_hashtags_an_entry_must_carry_one(feeds):
    feeds.add_feed("blog_img.xml")
    feeds.add_feed("rss_enclosures.xml")
    tagged = collect(feeds, "blog_img.xml", hashtags=["welovebrussels"])
    assert [p.title for p in tagged.posts] == ["Along the Senne"], "#WeLoveBrussels matches, any case"
    assert tagged.skipped == {"no #welovebrussels": 1, "no image": 1}
    snow = list(collector(feeds, f"{feeds.base_url}/feeds/rss_enclosures.xml", hashtags=["snow"]).pages("snow", None))
    assert [p.remote_id for p in snow[0].posts] == ["potd-103"], "a category counts"
    other = feeds.add_feed("other.xml", fixture("blog_img.xml", feeds.base_url).replace(
        "#WeLoveBrussels", "#WeLoveBrusselsFood"))
    (page,) = list(collector(feeds, other, hashtags=["welovebrussels"]).pages("welovebrussels", None))
    assert page.posts == [], "#welovebrusselsfood is another tag"


def test_without_channel_hashtags_the_feed_is_read_once_per_run(feeds):
    url = feeds.add_feed("atom_media.xml")
    reader = collector(feeds, url)
    assert list(reader.pages("bruxelles", None)) == [] and feeds.requests == []
    assert len(list(reader.pages("welovebrussels", None))) == 1 and len(feeds.requests) == 1


def test_an_undated_entry_is_dated_now_and_said_so(feeds, caplog):
    body = fixture("rss_enclosures.xml", feeds.base_url).replace(
        "<pubDate>Fri, 20 Nov 2026 08:30:00 +0000</pubDate>", "")
    feeds.add_feed("undated.xml", body)
    with caplog.at_level(logging.WARNING, logger="collector.rss"):
        page = collect(feeds, "undated.xml")
    undated = next(p for p in page.posts if p.remote_id == "potd-103")
    assert undated.created_at == NOW
    assert "1 entries have no date" in caplog.text and "undated.xml" in caplog.text


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (None, None, "not well-formed"),
    ("<html><body><h1>Welcome</h1></body></html>", "text/html", "text/html is not an XML media type"),
    ('{"items": []}', "application/json", "not well-formed"),
])
def test_a_document_that_is_not_a_feed_is_one_clear_error(feeds, body, content_type, reason):
    url = feeds.add_feed("malformed.xml", body, content_type=content_type)
    with pytest.raises(PlatformError) as caught:
        collect(feeds, "malformed.xml")
    message = str(caught.value)
    assert message.startswith(f"feed at {url} is not valid RSS/Atom (") and message.endswith("); check feed_url")
    assert reason in message and "\n" not in message


def test_a_feed_that_is_broken_but_readable_is_still_collected(feeds):
    body = fixture("pixelfed_profile.atom", feeds.base_url).replace('medium="image" />', 'medium="image">', 1)
    feeds.add_feed("unclosed.atom", body)  # older Pixelfed versions left media:content unclosed
    assert len(collect(feeds, "unclosed.atom").posts) == 2


def test_http_errors_name_the_feed_and_the_setting(feeds):
    with pytest.raises(PlatformError, match=r"feed at http://127\.0\.0\.1:\d+/feeds/gone\.xml answered 404 "
                                            r"Not Found; check feed_url"):
        collect(feeds, "gone.xml")


def test_the_body_is_never_taken_for_a_file_name(feeds, tmp_path):
    """feedparser opens a str or bytes argument as a path; a hostile server must not make us read local files."""
    local = tmp_path / "secret.xml"
    local.write_text(fixture("atom_media.xml", "http://127.0.0.1"), encoding="utf-8")
    feeds.add_feed("path.xml", str(local))
    with pytest.raises(PlatformError, match="not valid RSS/Atom"):
        collect(feeds, "path.xml")


def test_the_feed_goes_through_the_shared_http_policy(feeds):
    feeds.add_feed("atom_media.xml")
    with pytest.raises(TooLarge):
        collect(feeds, "atom_media.xml", max_bytes=500)
    with pytest.raises(BlockedAddress, match="allow_private"):
        collect(feeds, "atom_media.xml", net=NetworkSettings())
    assert len(feeds.requests) == 1, "the blocked address was never contacted"


def test_the_watermark_keeps_usual_validators_and_many_digests_and_fits_its_column():
    """Since schema version 6 the column is text: MAX_DIGESTS digests, not the dozen that fitted 256 characters."""
    seen = tuple(f"d{n:07d}" for n in range(MAX_DIGESTS + 40))
    usual = FeedMark('"' + "e" * 64 + '"', "Fri, 20 Nov 2026 12:00:00 GMT", seen[:MAX_DIGESTS])
    assert FeedMark.decode(usual.encode()) == usual, "a usual ETag and MAX_DIGESTS digests fit whole"
    assert FeedMark.decode(usual._replace(seen=seen).encode()).seen == seen[:MAX_DIGESTS], "the first are kept"
    assert MAX_DIGESTS >= 200
    assert FeedMark.decode("garbage") == FeedMark() and FeedMark.decode(None) == FeedMark()
    for etag, modified in (('W/"' + "é" * 120 + '"', usual.modified), ('"x"', "Fri, " + "9" * 600)):
        odd = FeedMark.decode(FeedMark(etag, modified, seen).encode())  # JSON escapes é as \u00e9: 6 characters
        assert len(odd.seen) == MAX_DIGESTS
        assert (odd.etag, odd.modified) in ((None, usual.modified), ('"x"', None)), "only the odd one is dropped"
    longest = "x" * (VALIDATOR_MAX - 2)  # the longest validators kept, with every digest: still within the column
    assert len(FeedMark(longest, longest, seen).encode()) <= WATERMARK_MAX


def test_a_watermark_stored_before_version_6_keeps_its_validators_and_digests():
    old = '{"e":"\\"abc\\"","m":"Fri, 20 Nov 2026 12:00:00 GMT","s":"AAAAAAAABBBBBBBBCC"}'
    assert FeedMark.decode(old) == FeedMark('"abc"', "Fri, 20 Nov 2026 12:00:00 GMT", ("AAAAAAAA", "BBBBBBBB"))


def test_an_older_date_watermark_keeps_its_validators():
    old = '{"e":"\\"abc\\"","m":"Fri, 20 Nov 2026 12:00:00 GMT","t":1795163400,"s":["0a1b2c3d"]}'
    assert FeedMark.decode(old) == FeedMark('"abc"', "Fri, 20 Nov 2026 12:00:00 GMT", ())


def test_built_from_settings_through_the_registry(feeds):
    url = feeds.add_feed("pixelfed_profile.atom")
    settings = Settings(hashtags=["WeLoveBrussels", "bxl"], network=NetworkSettings(allow_private=[feeds.origin]))
    channel = ChannelSettings(kind="rss", feed_url=url)
    reader = build_collector(channel, settings, Http(settings.network, sleep=lambda s: None))
    assert isinstance(reader, FeedCollector) and reader.hashtags is None
    assert [len(p.posts) for p in reader.pages("welovebrussels", None)] == [2]
    assert list(reader.pages("bxl", None)) == []
    assert not hasattr(reader, "exists"), "a feed cannot be asked about one entry"
    tagged = build_collector(channel.model_copy(update={"hashtags": ["#Sablon"]}), settings, Http(settings.network))
    assert tagged.hashtags == ["sablon"]


def test_a_feed_declaring_entities_is_read_without_expanding_them(feeds):
    """Our raw Media RSS pass skips a DOCTYPE with entities (billion laughs); feedparser's view still serves."""
    laughs = '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    body = fixture("rss_enclosures.xml", feeds.base_url).replace("<rss ", laughs + "<rss ", 1)
    feeds.add_feed("entities.xml", body)
    assert read_items(body.encode(), feeds.base_url) == []
    assert [p.remote_id for p in collect(feeds, "entities.xml").posts][0] == "potd-103"
