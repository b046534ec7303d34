"""What is new in a feed is decided by entry identity, not date; the memory of it is bounded (MAX_DIGESTS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlmodel import select

import collector.rss
from collector.rss import FeedCollector, FeedMark
from collector.run import collect_channel
from core.bounds import WATERMARK_MAX
from core.db import Database
from core.http import Http
from core.models import Author, Cursor, Post
from core.report import ChannelReport
from core.settings import ChannelSettings, NetworkSettings, Settings
from tests.fakes.feeds import FakeFeeds

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def feeds():
    with FakeFeeds() as fake:
        yield fake


def item(base: str, n: int, when: datetime, *, image: bool = True) -> str:
    enclosure = f'<enclosure url="{base}/img/{n}.jpg" type="image/jpeg" length="1000"/>' if image else ""
    return (f"<item><title>Photo {n}</title><link>{base}/p/{n}/</link><guid isPermaLink=\"false\">entry-{n}</guid>"
            f"<author>lea@example.org (Léa)</author><pubDate>{format_datetime(when)}</pubDate>{enclosure}</item>")


def rss(items: list[str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Photos</title>'
            f'<link>http://example.org/</link><description>d</description>{"".join(items)}</channel></rss>')


def reader(fake: FakeFeeds, url: str) -> FeedCollector:
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    return FeedCollector(http, url, hashtags=None, unit_tag="welovebrussels", max_bytes=2_000_000)


def read(fake: FakeFeeds, url: str, watermark: str | None):
    (page,) = list(reader(fake, url).pages("welovebrussels", watermark))
    return page


def test_a_backdated_entry_that_appears_late_is_collected(feeds):
    b = feeds.base_url
    url = feeds.add_feed("f.xml", rss([item(b, 2, T0), item(b, 1, T0 - timedelta(days=1))]), conditional=False)
    first = read(feeds, url, None)
    late = item(b, 3, T0 - timedelta(days=30))  # written a month ago, published today
    feeds.add_feed("f.xml", rss([item(b, 2, T0), item(b, 1, T0 - timedelta(days=1)), late]), conditional=False)
    second = read(feeds, url, first.watermark)
    assert [p.remote_id for p in second.posts] == ["entry-3"] and second.fetched == 1


def test_an_entry_dated_2204_does_not_freeze_the_feed(feeds):
    b = feeds.base_url
    future = item(b, 9, datetime(2204, 1, 1, tzinfo=UTC))
    url = feeds.add_feed("f.xml", rss([future, item(b, 1, T0)]), conditional=False)
    first = read(feeds, url, None)
    assert {p.remote_id for p in first.posts} == {"entry-9", "entry-1"}
    feeds.add_feed("f.xml", rss([future, item(b, 2, T0 + timedelta(hours=1)), item(b, 1, T0)]), conditional=False)
    second = read(feeds, url, first.watermark)
    assert [p.remote_id for p in second.posts] == ["entry-2"]


def test_an_entry_that_breaks_the_parser_costs_that_entry_only(feeds):
    b = feeds.base_url
    broken = item(b, 5, T0).replace(f'<enclosure url="{b}/img/5.jpg"', '<enclosure url="http://[oops/5.jpg"').replace(
        "</item>", "<description>&lt;img src=&quot;http://[oops/x.jpg&quot;&gt;</description></item>")
    url = feeds.add_feed("f.xml", rss([item(b, 6, T0), broken, item(b, 4, T0)]))
    page = read(feeds, url, None)
    assert [p.remote_id for p in page.posts] == ["entry-6", "entry-4"]
    assert page.skipped == {"malformed (ValueError)": 1} and page.fetched == 3
    assert read(feeds, url, None).posts, "the next run is not stopped either"


def test_a_long_feed_keeps_a_bounded_memory_and_the_database_the_rest(feeds, db_url, monkeypatch):
    monkeypatch.setattr(collector.rss, "MAX_DIGESTS", 20)  # a feed longer than the memory, without 600 entries
    b = feeds.base_url
    entries = [item(b, n, T0 - timedelta(hours=n), image=n % 10 != 0) for n in range(60)]
    url = feeds.add_feed("long.xml", rss(entries), conditional=False)
    settings = Settings(network=NetworkSettings(allow_private=[feeds.origin]),
                        channels={"blog": ChannelSettings(kind="rss", feed_url=url)})
    db = Database(db_url)

    def run() -> ChannelReport:
        report = ChannelReport("blog")
        collect_channel(db, settings, "blog", reader(feeds, url), report)
        assert not report.errors
        return report

    first = run()
    assert (first.new_posts, first.skipped["no image"], first.fetched) == (54, 6, 60)
    with db.session() as s:
        watermark = s.get(Cursor, ("blog", "welovebrussels")).watermark
    mark = FeedMark.decode(watermark)
    assert len(watermark) <= WATERMARK_MAX and len(mark.seen) == 20
    again = run()
    # The entries without an image are remembered first: nothing else knows them. The others that did not
    # fit are parsed again and found in the database by their key: no duplicate, no loss.
    assert again.new_posts == 0 and "no image" not in again.skipped
    assert again.fetched == 60 - len(mark.seen) == again.known_posts
    newer = item(b, 99, T0 - timedelta(days=400))  # backdated, and past every remembered entry
    feeds.add_feed("long.xml", rss(entries + [newer]), conditional=False)
    assert run().new_posts == 1
    with db.session() as s:
        assert len(s.exec(select(Post)).all()) == 55
        assert s.exec(select(Author)).one().name == "Léa"


def test_an_uncredited_entry_is_stored_for_a_reviewer(feeds, db_url):
    b = feeds.base_url
    url = feeds.add_feed("f.xml", rss([item(b, 1, T0).replace("<author>lea@example.org (Léa)</author>", "")]))
    settings = Settings(network=NetworkSettings(allow_private=[feeds.origin]),
                        channels={"blog": ChannelSettings(kind="rss", feed_url=url)})
    db = Database(db_url)
    report = ChannelReport("blog")
    collect_channel(db, settings, "blog", reader(feeds, url), report)
    with db.session() as s:
        post = s.exec(select(Post)).one()
        author = s.get(Author, post.author_id)
        assert post.needs_credit and (author.handle, author.name, author.network) == ("", "", "web")
        assert author.key.startswith("web:uncredited:") and author.profile_url == url
