"""`wlb queue` shows one page, newest first, and says how many more there are; --json pages too, --all lists all."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.output import Output
from core.media import MediaStore
from core.db import Database
from core.models import Author, ImageMatch, Media, Post, Status
from curation.filters import ItemFilter
from curation.views import get_item, iter_items, list_items

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
    assert f"… 70 more pending; next page: --after {newest[49]} (or --offset 50), or --limit N" in result.out


def test_limit_and_offset_page_through_the_queue(site):
    newest = _fill(site.db_url)
    first = site.wlb("queue", "--limit", "20")
    assert _ids(first.out) == newest[:20] and "… 100 more pending; next page: --after" in first.out
    middle = site.wlb("queue", "--offset", "50")
    assert _ids(middle.out) == newest[50:100] and "… 20 more pending; next page: --after" in middle.out
    last = site.wlb("queue", "--offset", "100", "--limit", "50")
    assert _ids(last.out) == newest[100:] and "more pending" not in last.out
    past = site.wlb("queue", "--offset", "500")
    assert past.code == 0 and _ids(past.out) == [] and "No items past --offset 500." in past.out


def test_every_status_counts_its_own_items(site):
    _fill(site.db_url)
    assert "… 77 more; next page: --after" in site.wlb("queue", "--status", "all").out
    rejected = site.wlb("queue", "--status", "rejected")
    assert rejected.out.count("rejected") == 7 and "more" not in rejected.out


def test_json_pages_like_the_table_and_all_lists_everything(site):
    newest = _fill(site.db_url)
    page = site.wlb("queue", "--json")
    assert [it["id"] for it in page.json()] == newest[:50]
    assert f"… 70 more pending; next page: --after {newest[49]}" in page.err  # stdout stays one JSON document
    assert [it["id"] for it in site.queue("pending")] == newest
    limited = site.wlb("queue", "--json", "--limit", "5", "--offset", "2")
    assert [it["id"] for it in limited.json()] == newest[2:7] and "113 more" in limited.err
    assert site.wlb("queue", "--json", "--all", "--limit", "5").code == 2


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


def test_after_pages_by_cursor_and_stays_put_while_items_arrive(site):
    newest = _fill(site.db_url)
    first = site.wlb("queue", "--json", "--limit", "30").json()
    assert [it["id"] for it in first] == newest[:30]
    db = Database(site.db_url)
    with db.session() as session:  # newer items arrive between two pages: --offset would shift, --after does not
        for i in range(5):
            session.add(Post(key=f"late{i}", channel="source", platform="mastodon", remote_id=f"l{i}", url=f"https://x/l{i}",
                             author_id=1, created_at=T0 + timedelta(days=1, minutes=i),
                             status=Status.PENDING))
        session.commit()
    db.dispose()
    second = site.wlb("queue", "--json", "--limit", "30", "--after", str(first[-1]["id"]))
    assert [it["id"] for it in second.json()] == newest[30:60] and "… 60 more pending" in second.err
    table = site.wlb("queue", "--after", str(newest[99]))
    assert _ids(table.out) == newest[100:] and "more" not in table.out
    rest = site.wlb("queue", "--json", "--all", "--after", str(newest[59]))
    assert [it["id"] for it in rest.json()] == newest[60:]
    assert site.wlb("queue", "--after", str(newest[-1])).out.strip() == f"No items past --after {newest[-1]}."


def test_after_an_unknown_item_is_one_clear_line(site):
    _fill(site.db_url)
    result = site.wlb("queue", "--after", "99999")
    assert result.code == 2 and "--after 99999: no item #99999" in result.err and "Traceback" not in result.err


def test_streamed_json_is_the_document_a_single_dump_gave_one_item_a_line(site, capsys):
    """Scripts read the same array of the same objects as before streaming; each item now sits on its own line."""
    import json

    _fill(site.db_url)
    items = site.queue("all")
    Output(json_mode=True).items(iter(items))
    streamed = capsys.readouterr().out
    assert json.loads(streamed) == items and len(items) == 127
    lines = streamed.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(items) + 2
    assert [json.loads(line.rstrip(","))["id"] for line in lines[1:-1]] == [it["id"] for it in items]
    Output(json_mode=True).items(iter([]))
    assert capsys.readouterr().out == "[]\n"


@pytest.mark.parametrize("args", [("queue",), ("queue", "--json", "--all", "--status", "all")])
def test_the_queue_command_reads_in_batches_not_per_item(site, monkeypatch, args):
    """A page of 50, and --all over a few hundred items in batches of 100: a few queries per batch, none per item."""
    _fill(site.db_url)
    db = Database(site.db_url)
    with db.session() as session:  # 300 more items, each with two images: 427 in all
        session.add_all(Post(key=f"more{i}", channel="source", platform="mastodon", remote_id=f"m{i}", url=f"https://x/m{i}",
                             author_id=1 + i % 3, created_at=T0 - timedelta(hours=i), status=Status.PENDING)
                        for i in range(300))
        session.commit()
        session.add_all(Media(post_id=p, position=n, url=f"https://x/m{p}/{n}.jpg", state="ok")
                        for p in session.exec(Post.__table__.select().with_only_columns(Post.id).where(
                            Post.key.like("more%"))).scalars() for n in range(2))
        session.commit()
    db.dispose()
    monkeypatch.setattr("curation.views.BATCH", 100)
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def record(_conn, _cur, sql, *_a):
        statements.append(sql)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        result = site.wlb(*args)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert result.code == 0, result.err
    shown = len(result.json()) if "--json" in args else len(_ids(result.out))
    assert shown == (427 if "--all" in args else 50)
    reads = [s for s in statements if "FROM media" in s or "FROM author" in s or "FROM image_match" in s]
    batches = -(-shown // 100)
    assert len(reads) == 3 * batches  # authors, images and possible duplicates: one query each per batch
    assert len(statements) <= 3 * batches + 12  # plus the page query, the count and opening the database


def test_postgresql_streams_the_page_query_through_a_server_side_cursor(site):
    """psycopg buffers a whole result client-side unless the query runs on a named (server-side) cursor."""
    _fill(site.db_url)
    db = Database(site.db_url)
    if db.engine.dialect.name != "postgresql":
        db.dispose()
        pytest.skip("PostgreSQL only (WLB_TEST_DATABASE)")
    cursors = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda _c, cursor, sql, *a: cursors.append(type(cursor).__name__) if "ORDER BY post.created_at" in sql else None)
    listed = list(iter_items(db, MediaStore(site.root / "data" / "media"), ItemFilter(status="all")))
    assert len(listed) == PENDING + 7 and cursors == ["ServerCursor"]
    db.dispose()


@pytest.mark.parametrize("args", [["--offset", str(2**63)], ["--limit", str(10**20)]])
def test_a_number_past_the_database_range_is_one_usage_line(site, args):
    _fill(site.db_url)
    result = site.wlb("queue", "--json", *args)
    assert result.code == 2 and result.out == "", result.err
    assert len(result.err.strip().splitlines()) == 1 and args[0] in result.err and "unexpected" not in result.err


def test_an_error_midway_leaves_the_array_unclosed_and_the_exit_code_says_so(site, monkeypatch):
    """A script must not take a cut-off stream for the whole queue: no closing bracket, exit 1, one line."""
    import json

    import curation.views as views

    _fill(site.db_url)
    real, seen = views.item_view, []

    def failing(*args, **kwargs):
        seen.append(1)
        if len(seen) == 7:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "item_view", failing)
    result = site.wlb("queue", "--json", "--all")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1 and "went away" in result.err
    assert result.out.startswith("[\n") and len(result.out.splitlines()) == 7 and not result.out.rstrip().endswith("]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.out)
