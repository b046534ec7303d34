"""`wlb queue` shows one page, newest first, and says how many more there are; --json keeps listing everything."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from core.media import MediaStore
from core.db import Database
from core.models import Author, ImageMatch, Media, Post, Status
from curation.filters import ItemFilter
from curation.views import get_item, list_items

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PENDING = 120


def _fill(db_url: str) -> list[int]:
    """120 pending items whose posting times are not in id order, 7 rejected ones; the pending ids newest first."""
    db = Database(db_url)
    with db.session() as session:
        authors = [Author(key=f"fediverse:u{n}@x.social", network="fediverse", handle=f"u{n}@x.social") for n in range(3)]
        session.add_all(authors)
        session.flush()
        posts = []
        for i in range(PENDING + 7):
            # 37 and 127 share no factor: minutes (i * 37) % 127 visit every value once, in another order than ids.
            posts.append(Post(key=f"k{i}", channel="source", platform="mastodon", remote_id=str(i), url=f"https://x/{i}",
                              author_id=authors[i % 3].id, created_at=T0 + timedelta(minutes=(i * 37) % 127),
                              status=Status.PENDING if i < PENDING else Status.REJECTED, text=f"post {i}"))
        session.add_all(posts)
        session.flush()
        for i, post in enumerate(posts):
            session.add_all(Media(post_id=post.id, position=n, url=f"https://x/{i}/{n}.jpg", state="ok", width=100 + i,
                                  height=200 + n) for n in range(1 + i % 2))
        session.flush()
        first = {m.post_id: m.id for m in session.exec(Media.__table__.select())}
        session.add(ImageMatch(post_id=posts[5].id, other_id=posts[2].id, media_id=first[posts[5].id],
                               other_media_id=first[posts[2].id], rule="cropped", tier="possible"))
        session.commit()
        pending = sorted((p for p in posts if p.status == Status.PENDING), key=lambda p: (p.created_at, p.id), reverse=True)
    db.dispose()
    return [p.id for p in pending]


def _ids(out: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+pending\b", out, re.MULTILINE)]


def test_plain_queue_shows_the_newest_page_and_how_many_more(site):
    newest = _fill(site.db_url)
    result = site.wlb("queue")
    assert result.code == 0, result.err
    assert _ids(result.out) == newest[:50]
    assert "… 70 more pending; use --offset 50 for the next page, or --limit N" in result.out


def test_limit_and_offset_page_through_the_queue(site):
    newest = _fill(site.db_url)
    first = site.wlb("queue", "--limit", "20")
    assert _ids(first.out) == newest[:20] and "… 100 more pending; use --offset 20" in first.out
    middle = site.wlb("queue", "--offset", "50")
    assert _ids(middle.out) == newest[50:100] and "… 20 more pending; use --offset 100" in middle.out
    last = site.wlb("queue", "--offset", "100", "--limit", "50")
    assert _ids(last.out) == newest[100:] and "more pending" not in last.out
    past = site.wlb("queue", "--offset", "500")
    assert past.code == 0 and _ids(past.out) == [] and "No items past --offset 500." in past.out


def test_every_status_counts_its_own_items(site):
    _fill(site.db_url)
    assert "… 77 more; use --offset 50" in site.wlb("queue", "--status", "all").out
    rejected = site.wlb("queue", "--status", "rejected")
    assert rejected.out.count("rejected") == 7 and "more" not in rejected.out


def test_json_lists_everything_unless_limited(site):
    newest = _fill(site.db_url)
    assert [it["id"] for it in site.queue("pending")] == newest
    limited = site.wlb("queue", "--json", "--limit", "5", "--offset", "2")
    assert [it["id"] for it in limited.json()] == newest[2:7] and "more" not in limited.out


def test_a_page_costs_the_same_few_queries_however_long_it_is(site):
    """Author, images and possible duplicates are read for the whole page, not three queries per item."""
    _fill(site.db_url)
    db = Database(site.db_url)
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *a: statements.append(sql))
    store = MediaStore(site.root / "data" / "media")
    list_items(db, store, limit=5)
    few = len(statements)
    statements.clear()
    list_items(db, store, limit=100)
    assert len(statements) == few <= 5
    db.dispose()


@pytest.mark.parametrize("limit", [None, 3])
def test_a_listed_item_shows_what_its_own_view_shows(site, limit):
    """Reading a page at once gives every item its own author, images and possible duplicates."""
    _fill(site.db_url)
    db = Database(site.db_url)
    store = MediaStore(site.root / "data" / "media")
    listed = list_items(db, store, ItemFilter(status="all"), limit=limit)
    assert any(it["possible_duplicate_of"] for it in listed) or limit
    for it in listed:
        alone = get_item(db, store, it["id"])
        assert it == {k: alone[k] for k in it}
        assert it["media"][0]["url"].startswith(f"https://x/{int(it['post_url'].rsplit('/', 1)[1])}/")
    db.dispose()
