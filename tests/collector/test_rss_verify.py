"""verify(): a feed cannot be asked about one entry; a Mastodon author read from a link is checked on its instance."""

from __future__ import annotations

from dataclasses import replace

from datetime import UTC, datetime

import pytest

from core.posts import OriginCheck, OriginClaim
from collector.rss import FeedCollector
from core.http import Http
from core.settings import NetworkSettings
from tests.fakes.feeds import FakeFeeds


@pytest.fixture
def feeds():
    with FakeFeeds() as fake:
        yield fake


def collector(fake: FakeFeeds, allow: bool = True) -> FeedCollector:
    http = Http(NetworkSettings(allow_private=[fake.origin] if allow else []), sleep=lambda s: None)
    return FeedCollector(http, f"{fake.base_url}/feeds/mastodon_tag.rss", hashtags=None, unit_tag="welovebrussels",
                         max_bytes=1_000_000, now=lambda: datetime(2026, 11, 21, tzinfo=UTC))


def claims(fake: FakeFeeds) -> dict[str, OriginClaim]:
    """The claims the publisher builds from what the collector stored."""
    fake.add_feed("mastodon_tag.rss")
    (page,) = list(collector(fake).pages("welovebrussels", None))
    fake.requests.clear()
    return {p.author.handle or "uncredited": OriginClaim(key=p.key, remote_id=p.remote_id, url=p.url,
                                                         author_handle=p.author.handle, author_uid=p.author.uid,
                                                         media_urls=tuple(m.url for m in p.images))
            for p in page.posts}


def test_a_derived_mastodon_author_is_confirmed_by_the_instance(feeds):
    claim = claims(feeds)["anna@127.0.0.1"]
    feeds.add_status("113500000000000001", "anna", (claim.media_urls[0],))
    check = collector(feeds).verify(claim)
    assert check == OriginCheck(verified=True, image_urls=claim.media_urls)
    (request,) = feeds.requests
    assert (request.method, request.path) == ("GET", "/api/v1/statuses/113500000000000001")
    assert "authorization" not in request.headers, "a public status needs no token"


def test_a_deleted_status_and_another_author(feeds):
    found = claims(feeds)
    assert collector(feeds).verify(found["anna@127.0.0.1"]) == OriginCheck(deleted=True)
    feeds.add_status("113499999999999999", "mallory")
    check = collector(feeds).verify(found["bob@127.0.0.1"])
    assert check.problem and "@mallory" in check.problem and "@bob" in check.problem and not check.verified


def test_an_instance_that_cannot_be_asked_is_not_verified(feeds):
    claim = claims(feeds)["bob@127.0.0.1"]
    assert collector(feeds, allow=False).verify(claim) == OriginCheck(), "blocked by the SSRF guard"
    assert feeds.requests == []
    feeds.statuses["113499999999999999"] = "not a status"  # a body that is no Status entity
    assert collector(feeds).verify(claim) == OriginCheck()


def test_credits_the_feed_itself_gives_are_verified_without_a_request(feeds):
    found = claims(feeds)
    assert collector(feeds).verify(found["uncredited"]) == OriginCheck(), "nobody named it yet: not confirmed"
    credited = replace(found["uncredited"], reviewer_credit="Carla Example")
    assert collector(feeds).verify(credited) == OriginCheck(verified=True), "the reviewer's recorded credit vouches"
    web = OriginClaim(key="tag:x,2026:1", remote_id="1", url="https://blog.example/p/1/",
                      author_handle="léa@blog.example")
    assert collector(feeds).verify(web) == OriginCheck(verified=True)
    assert feeds.requests == []
