"""The collect stage's storage: batched inserts, races with another process, and authors kept fresh."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sqlmodel import select

import collector.run as run
from core.bounds import WATERMARK_MAX
from core.db import Database
from core.models import Author, Cursor, Media, Post
from core.posts import AuthorData, MediaData, Page, PostData
from core.report import ChannelReport

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def post(n: int, *, author: str = "alice@x.example", name: str = "Alice") -> PostData:
    return PostData(key=f"https://x.example/s/{n}", remote_id=str(n), url=f"https://x.example/@a/{n}",
                    author=AuthorData(handle=author, name=name, profile_url=f"https://x.example/@{author}"),
                    created_at=NOW, media=(MediaData(url=f"https://x.example/m/{n}.jpg"),))


def store(db: Database, page: Page, own=(set(), set())) -> ChannelReport:
    report = ChannelReport("c")
    with db.session() as session:
        run.store_page(session, "c", "welovebrussels", "mastodon", page, own, report)
    return report


def test_page_is_stored_with_its_media_and_watermark_together(db_url):
    db = Database(db_url)
    report = store(db, Page(posts=[post(1), post(2), post(1)], watermark="w2"))
    assert (report.new_posts, report.known_posts) == (2, 0)
    with db.session() as s:
        assert len(s.exec(select(Post)).all()) == 2 and len(s.exec(select(Media)).all()) == 2
        assert len(s.exec(select(Author)).all()) == 1
        assert s.get(Cursor, ("c", "welovebrussels")).watermark == "w2"
    again = store(db, Page(posts=[post(2), post(3, name="Alice D.")], watermark="w3"))
    assert (again.new_posts, again.known_posts) == (1, 1)
    with db.session() as s:
        assert s.exec(select(Author)).one().name == "Alice D."


def test_own_accounts_and_reposts_are_skipped(db_url):
    db = Database(db_url)
    report = store(db, Page(posts=[post(1, author="us@x.example"), post(2)], watermark=None),
                   own=({"us@x.example"}, {"https://x.example/@a/2"}))
    assert report.new_posts == 0 and report.skipped["own account or repost"] == 2


def test_a_post_stored_meanwhile_by_another_process_is_counted_as_known(db_url, monkeypatch):
    db = Database(db_url)
    other = Database(db_url)
    real = run._insert
    calls = []

    def racing(session, channel, platform, posts):
        if not calls:  # the first batch insert: another process commits post 1 just before us
            with other.session() as s:
                real(s, "elsewhere", "mastodon", [post(1)])
                s.commit()
        calls.append(len(posts))
        return real(session, channel, platform, posts)

    monkeypatch.setattr(run, "_insert", racing)
    report = store(db, Page(posts=[post(1), post(2)], watermark="w"))
    assert (report.new_posts, report.known_posts) == (1, 1)
    assert calls == [2, 1, 1], "the batch failed as a whole, then each post was tried alone"
    with db.session() as s:
        assert sorted(p.channel for p in s.exec(select(Post))) == ["c", "elsewhere"]
        assert s.get(Cursor, ("c", "welovebrussels")).watermark == "w"


# Hostile answers: one bad record costs one record, one bad channel costs one channel (issue 8).

from collections.abc import Iterator  # noqa: E402
from dataclasses import replace  # noqa: E402

from core.settings import Settings  # noqa: E402


class FakeCollector:
    """Yields the pages it is given (or raises the exception it is given), recording how many were pulled."""

    def __init__(self, pages: list[Page] | None = None, *, endless: bool = False, error: BaseException | None = None):
        self.script = pages or []
        self.endless = endless
        self.error = error
        self.pulled = 0
        self.closed = False

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        try:
            n = 0
            while self.script or (self.endless and n < 200):  # 200: a test without the cap still ends
                if self.error and not self.script:
                    raise self.error
                n += 1
                self.pulled += 1
                yield self.script.pop(0) if self.script else Page(posts=[post(10_000 + n)], watermark=str(10_000 + n))
            if self.error:
                raise self.error
        finally:
            self.closed = True


def settings(**collect) -> Settings:
    return Settings(hashtags=["welovebrussels"], collect=collect,
                    channels={"a": {"kind": "mastodon", "base_url": "https://a.example"},
                              "b": {"kind": "mastodon", "base_url": "https://b.example"}})


def test_hostile_posts_are_skipped_or_bounded_and_never_reach_the_database_as_errors(db_url):
    db = Database(db_url)
    hostile = [
        replace(post(1), language="x" * 40, text="t\x00" * 50_000,
                author=AuthorData(handle="long@x.example", name="N" * 5000, profile_url="https://x.example/" + "p" * 3000)),
        replace(post(2), key="https://x.example/" + "k" * 3000),
        replace(post(3), url="javascript:alert(1)"),
        replace(post(4), author=AuthorData(handle="h" * 400, name="", profile_url="")),
        replace(post(5), media=(MediaData(url="https://x.example/" + "m" * 3000),)),
        replace(post(6), created_at=datetime(2026, 5, 1, 8, 0)),  # no time zone
        replace(post(7), created_at=datetime(2001, 1, 1, tzinfo=UTC)),
        replace(post(8), remote_id="9" * 300),
        post(9),
    ]
    report = ChannelReport("a")
    run.collect_channel(db, settings(), "a", FakeCollector([Page(posts=hostile, watermark="9" * (WATERMARK_MAX + 1))]),
                      report)
    assert report.errors == [] and report.new_posts == 4
    assert report.skipped == {"malformed (key too long)": 1, "malformed (post url not a valid http(s) URL)": 1,
                              "malformed (author handle too long)": 1, "malformed (media url not a valid http(s) URL)": 1,
                              "malformed (id too long)": 1, "watermark not stored (too long or malformed)": 1}
    with db.session() as s:
        stored = {p.remote_id: p for p in s.exec(select(Post))}
        assert sorted(stored) == ["1", "6", "7", "9"]
        assert stored["1"].language is None and len(stored["1"].text) == 20_000 and "\x00" not in stored["1"].text
        author = s.get(Author, stored["1"].author_id)
        assert len(author.name) == 512 and author.profile_url == ""
        assert stored["6"].created_at == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
        assert stored["7"].created_at.year == datetime.now(UTC).year, "clamped to the collection time"
        assert "before mastodon existed" in stored["7"].reasons[0]
        assert s.get(Cursor, ("a", "welovebrussels")) is None, "a watermark too long for its column is not stored"


def test_endless_pages_stop_at_the_cap_with_a_warning(db_url):
    db = Database(db_url)
    collector = FakeCollector(endless=True)
    report = ChannelReport("a")
    run.collect_channel(db, settings(max_pages_per_run=7), "a", collector, report)
    assert collector.pulled == 7 and collector.closed
    assert report.new_posts == 7 and report.errors == []
    assert report.warnings == ["#welovebrussels: stopped after 7 pages (collect.max_pages_per_run); the rest is "
                               "collected on the next run"]
    with db.session() as s:
        assert s.get(Cursor, ("a", "welovebrussels")).watermark == "10007", "the next run goes on from page 7"


@pytest.mark.parametrize("error", [RecursionError("maximum recursion depth exceeded"), TypeError("'list' object"),
                                   KeyError("account"), ValueError("bad")])
def test_any_exception_in_one_channel_is_reported_and_the_next_channel_goes_on(db_url, error):
    db = Database(db_url)
    cfg = settings()
    first, second = ChannelReport("a"), ChannelReport("b")
    broken = FakeCollector([Page(posts=[post(1)], watermark="1")], error=error)
    run.collect_channel(db, cfg, "a", broken, first)
    run.collect_channel(db, cfg, "b", FakeCollector([Page(posts=[post(2)], watermark="2")]), second)
    assert len(first.errors) == 1 and f"unexpected {type(error).__name__}" in first.errors[0]
    assert first.new_posts == 1, "the page committed before the failure stays"
    assert second.errors == [] and second.new_posts == 1


def test_a_channel_error_never_carries_a_secret(db_url, monkeypatch):
    monkeypatch.setenv("WLB_A_TOKEN", "tok-very-secret-1234")
    cfg = Settings(hashtags=["welovebrussels"],
                   channels={"a": {"kind": "mastodon", "base_url": "https://a.example", "token_env": "WLB_A_TOKEN"}})
    report = ChannelReport("a")
    echoing = FakeCollector(error=ValueError("server said: bad token tok-very-secret-1234 at "
                                             "https://a.example/x?access_token=other-secret"))
    run.collect_channel(Database(db_url), cfg, "a", echoing, report)
    assert "tok-very-secret-1234" not in report.errors[0] and "other-secret" not in report.errors[0]
    assert "bad token *** at https://a.example/x?access_token=***" in report.errors[0]
