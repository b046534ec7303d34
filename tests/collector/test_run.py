"""The collect stage's storage: batched inserts, races with another process, and authors kept fresh."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

import collector.run as run
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
