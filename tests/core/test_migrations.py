"""Migrations build exactly the schema the models describe, once, even with two processes racing."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import core.models  # noqa: F401 - registers the tables
from core.db import Database, latest_version, schema_version
from core.models import Author, Post, Publication, utcnow


def test_migrated_schema_matches_the_models(db_url):
    db = Database(db_url)
    with db.engine.connect() as conn:
        diff = [d for d in compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
                if not (d[0] == "remove_table" and d[1].name == "wlb_schema")]
    assert diff == []
    assert schema_version(db.engine) == latest_version()


def test_migrating_twice_is_a_no_op(db_url):
    Database(db_url)
    db = Database(db_url)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM wlb_schema")).scalar() == latest_version()


def _open(url: str) -> None:
    Database(url).dispose()


def test_two_processes_starting_at_once_migrate_once(db_url):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(db_url,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    db = Database(db_url)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM wlb_schema")).scalar() == latest_version()


def test_uniqueness_is_enforced_by_the_database(db_url):
    db = Database(db_url)
    with db.session() as s:
        author = Author(key="fediverse:a@x", network="fediverse", handle="a@x")
        s.add(author)
        s.commit()
        s.add(Post(key="uri-1", channel="c", platform="mastodon", remote_id="1", url="u", author_id=author.id,
                   created_at=utcnow()))
        s.commit()
        s.add(Post(key="uri-1", channel="d", platform="mastodon", remote_id="2", url="u", author_id=author.id,
                   created_at=utcnow()))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        post_id = s.exec(sa.select(Post.id)).scalar_one()
        s.add(Publication(post_id=post_id, channel="out", idempotency_key="k1"))
        s.commit()
        s.add(Publication(post_id=post_id, channel="out", idempotency_key="k2"))
        with pytest.raises(IntegrityError):
            s.commit()


def test_a_newer_database_is_refused_with_a_clear_message(db_url):
    db = Database(db_url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO wlb_schema (version, applied_at) VALUES (999, 'later')"))
    with pytest.raises(Exception, match="newer than this wlb"):
        Database(db_url)


# Watermarks as wlb stored them before version 6, one per collector's format (bare ids came before JSON).
OLD_WATERMARKS = {
    "mastodon": '{"newest":"113500000000000001","older_than":"113400000000000000","pages_left":3}',
    "bare": "113500000000000001",
    "pixelfed": '{"newest":null,"top":"790000000000000001","older_than":"780000000000000000","pages_left":2}',
    "bluesky": '{"since":"2026-11-20T11:00:00.000000Z","cursor":"3"}',
    "flickr": '{"t":1795176000,"ids":["54000000001","54000000002"],"b":null,"n":0}',
    "rss": '{"e":"\\"abc\\"","m":"Fri, 20 Nov 2026 12:00:00 GMT","s":"AAAAAAAABBBBBBBB"}',
}


def test_a_version_5_database_upgrades_and_keeps_its_watermarks(db_url, monkeypatch):
    """Version 6 widens Cursor.watermark; the marks stored before it are kept as they were, byte for byte."""
    import core.migrations
    from core.bounds import WATERMARK_MAX
    from core.db import make_engine, migrate
    from core.models import Cursor

    monkeypatch.setattr(core.migrations, "MIGRATIONS", {v: f for v, f in core.migrations.MIGRATIONS.items() if v <= 5})
    engine = make_engine(db_url)
    assert migrate(engine) == [1, 2, 3, 4, 5]
    with engine.begin() as conn:
        conn.execute(sa.insert(Cursor.__table__), [dict(channel=c, hashtag="welovebrussels", watermark=w,
                                                        updated_at=utcnow()) for c, w in OLD_WATERMARKS.items()])
    engine.dispose()
    monkeypatch.undo()

    db = Database(db_url)
    assert schema_version(db.engine) == latest_version() >= 6
    with db.session() as s:
        assert {c.channel: c.watermark for c in s.exec(sa.select(Cursor)).scalars()} == OLD_WATERMARKS
        long = "9" * WATERMARK_MAX  # PostgreSQL refused anything past 256 characters before version 6
        s.add(Cursor(channel="long", hashtag="welovebrussels", watermark=long))
        s.commit()
        assert s.get(Cursor, ("long", "welovebrussels")).watermark == long
    column = next(c for c in sa.inspect(db.engine).get_columns("cursor") if c["name"] == "watermark")
    assert getattr(column["type"], "length", None) is None and not column["nullable"]


def test_a_version_missing_below_the_newest_is_still_applied(db_url, monkeypatch):
    """A database that recorded the newest version but not one below it (branches numbered their migrations
    apart, as 5 and 6 were) gets the missing one: the read-only fast path does not skip it."""
    import core.migrations
    from core.db import make_engine, migrate

    monkeypatch.setattr(core.migrations, "MIGRATIONS", {v: f for v, f in core.migrations.MIGRATIONS.items() if v != 5})
    engine = make_engine(db_url)
    assert 5 not in migrate(engine)
    monkeypatch.undo()
    assert migrate(engine) == [5]
    assert migrate(engine) == []
    engine.dispose()


def test_version_11_on_a_populated_version_10_database_indexes_the_rows_already_there(db_url, monkeypatch):
    """Migration 11's partial indexes are built over rows written before them (booleans and states as version 10
    wrote them), and the reads they serve find those rows."""
    from datetime import UTC, datetime

    import core.migrations
    from collector.run import pending_media
    from core.db import make_engine, migrate
    from core.models import ImageMatch, Media
    from curation.filters import ItemFilter
    from curation.views import count_items

    monkeypatch.setattr(core.migrations, "MIGRATIONS", {v: f for v, f in core.migrations.MIGRATIONS.items() if v <= 10})
    engine = make_engine(db_url)
    assert migrate(engine)[-1] == 10
    when = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(Author.__table__), [dict(id=1, key="fediverse:a@b.c", network="fediverse", handle="a@b.c",
                                                        name="", profile_url="")])
        conn.execute(sa.insert(Post.__table__), [
            dict(id=i, key=f"k{i}", channel="c", platform="mastodon", remote_id=str(i), url=f"https://b.c/{i}",
                 author_id=1, text="", sensitive=False, spoiler_text="", created_at=when, collected_at=when,
                 status="pending", reasons=[], targets=[], needs_credit=i in (1, 2), credit="x" if i == 2 else None,
                 publish_next=False, ask_first=[], license="CC BY 2.0" if i == 3 else None) for i in range(1, 5)])
        conn.execute(sa.insert(Media.__table__), [dict(id=i, post_id=i, position=0, url=f"https://b.c/{i}.jpg",
                                                       state="pending" if i % 2 else "ok", attempts=0) for i in range(1, 5)])
        conn.execute(sa.insert(ImageMatch.__table__), [
            dict(post_id=4, other_id=3, media_id=4, other_media_id=3, rule="cropped", tier="possible"),
            dict(post_id=2, other_id=1, media_id=2, other_media_id=1, rule="same photo", tier="duplicate")])
    engine.dispose()
    monkeypatch.undo()

    db = Database(db_url)
    assert schema_version(db.engine) == latest_version()
    assert count_items(db, ItemFilter(needs_credit=True)) == 1
    assert count_items(db, ItemFilter(possible_duplicates=True)) == 1
    with db.session() as session:
        assert sorted(m.post_id for m, _ in session.exec(pending_media())) == [1, 3]
    db.dispose()
