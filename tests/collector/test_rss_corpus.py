"""Feeds as real software writes them (tests/fixtures/feeds/README.md), on 127.0.0.1 through the real Http client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.pipeline import collector_for as build_collector
from collector.rss import FeedCollector
from core.http import Http
from core.settings import ChannelSettings, NetworkSettings, Settings
from tests.fakes.feeds import FakeFeeds, fixture

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def feeds():
    with FakeFeeds() as fake:
        yield fake


def collect(fake: FakeFeeds, name: str, watermark: str | None = None):
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    reader = FeedCollector(http, fake.add_feed(name), hashtags=None, unit_tag="welovebrussels", max_bytes=1_000_000,
                           now=lambda: NOW)
    (page,) = list(reader.pages("welovebrussels", watermark))
    return page


def test_a_mastodon_tag_feed_credits_the_account_in_each_item_link(feeds):
    anna, bob, carla, dora = collect(feeds, "mastodon_tag.rss").posts
    b = feeds.base_url
    assert (anna.author.handle, anna.author.network, anna.author.profile_url) == \
        ("anna@127.0.0.1", "fediverse", f"{b}/@anna")
    assert anna.author.authoritative is False, "the feed has no display name: keep the one the API gave"
    assert (dora.author.handle, dora.author.profile_url) == ("dora@social.example", "https://social.example/@dora")
    assert bob.author.handle == "bob@127.0.0.1" and not bob.needs_credit
    for post in (anna, bob, dora):
        assert "#welovebrussels" not in post.author.name and post.author.name != "127.0.0.1"
    # A Pixelfed status seen by the Mastodon instance is linked at its origin: nobody named, a reviewer credits it.
    assert carla.needs_credit and carla.author.handle == "" and carla.author.name == ""
    assert carla.author.profile_url == f"{b}/feeds/mastodon_tag.rss"


def test_a_mastodon_feed_s_rating_alt_text_and_gifv(feeds):
    anna, bob, carla, _ = collect(feeds, "mastodon_tag.rss").posts
    assert anna.sensitive and not bob.sensitive, "<media:rating scheme='urn:simple'>adult</media:rating>"
    (image,) = anna.images
    assert image.alt_text == "The Grand-Place town hall lit in gold at night"
    assert [m.kind for m in anna.media] == ["image", "video"], "a gifv is medium='image' type='video/mp4'"
    assert anna.text == "Grand-Place at night #welovebrussels", "the post's text, not its media:description"
    assert carla.text == "Marolles flea market #welovebrussels" and carla.images[0].alt_text.startswith("Stalls")
    assert anna.created_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_feedburner_buttons_and_pixels_are_not_photos(feeds):
    page = collect(feeds, "feedburner_blogger.atom")
    (post,) = page.posts
    assert page.skipped == {"no image": 1}, "an entry with only FeedFlare buttons (/~ff/) and the /~r/ pixel"
    (image,) = post.images
    assert image.url.endswith("/s640/Copy_of0.png") and (image.width, image.height) == (640, 371)


def test_a_photo_sent_twice_as_thumbnail_and_full_size_is_one_image(feeds):
    (post,) = collect(feeds, "guardian_media.rss").posts
    (image,) = post.images
    assert "w=460" in image.url and image.width == 460, "the 140 px copy is a thumbnail"
    assert post.author.name == "David Smith in Washington" and not post.needs_credit


def test_the_largest_srcset_candidate_of_a_wordpress_image(feeds):
    (post,) = collect(feeds, "wordpress_srcset.rss").posts
    (image,) = post.images
    assert image.url == f"{feeds.base_url}/wp-content/uploads/2026/11/canal-2048x1365.jpg"
    assert (image.width, image.alt_text) == (2048, "Le canal de Willebroek dans la brume")
    assert post.author.name == "Sofie Janssens" and post.text == "Le canal au petit matin. #welovebrussels"


def quirks(fake: FakeFeeds) -> dict[str, object]:
    return {p.remote_id: p for p in collect(fake, "media_rss_quirks.rss").posts}


def test_a_media_group_is_one_photo_in_its_largest_size(feeds):
    abattoirs = quirks(feeds)["club-31"]
    (group,) = abattoirs.images
    assert (group.url, group.width, group.height) == (f"{feeds.base_url}/img/abattoirs-2048.jpg", 2048, 1365)
    assert group.alt_text == "Covered market hall of the Abattoirs"
    assert abattoirs.text == "", "feedparser files the group's media:description as content: it is alt text"
    assert abattoirs.key == f"{feeds.base_url}/feeds/media_rss_quirks.rss#club-31"


def test_a_relative_media_content_url_resolves_against_the_item_base(feeds):
    canal = quirks(feeds)["club-30"]
    (relative,) = canal.images
    assert relative.url == f"{feeds.base_url}/club/2026/11/photos/canal.jpg", "the item's xml:base"
    assert relative.alt_text == "Barges moored on the canal at dusk" and canal.title == "Canal at dusk"
    assert canal.text == "Barges on the canal."


def test_an_octet_stream_enclosure_is_left_to_its_bytes(feeds):
    cureghem = quirks(feeds)["club-29"]
    assert [m.url for m in cureghem.images] == [f"{feeds.base_url}/files/cureghem.jpg"]


def test_a_feed_url_is_read_exactly_as_configured(feeds):
    """WordPress serves /feed/; /feed redirects or is another page. The trailing slash stays."""
    url = feeds.add_feed("feed/", fixture("wordpress_srcset.rss", feeds.base_url))
    channel = ChannelSettings(kind="rss", feed_url=url)
    assert channel.feed_url == url and url.endswith("/feeds/feed/")
    reader = build_collector(channel, Settings(network=NetworkSettings(allow_private=[feeds.origin])),
                             Http(NetworkSettings(allow_private=[feeds.origin]), sleep=lambda s: None))
    (page,) = list(reader.pages("welovebrussels", None))
    assert len(page.posts) == 1 and [r.path for r in feeds.requests] == ["/feeds/feed/"]
    assert ChannelSettings(kind="mastodon", base_url="https://mastodon.social/").base_url == "https://mastodon.social"
