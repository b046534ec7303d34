"""The large reads use indexes: the queue's page under each filter, review's claim, downloads, curation, publishing.

Each read is captured as the code really sends it (SQL and parameters) and explained on the database under test.
SQLite: no full scan of a large table and no temporary sort, from the planner wlb gets (no ANALYZE statistics).
PostgreSQL: with sequential scans (and, for a page in the queue's order, sorts) switched off, the planner still
finds a plan without them: an index answers the query (its predicate matches, its order is the page's order).
A planner with statistics then chooses by size; bench/queue_scale.py prints those plans on 100,000 items.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.config import load_settings
from collector.run import pending_media
from core.db import Database
from core.media import MediaStore
from core.models import POSSIBLE, Author, Decision, ImageMatch, Media, Post, Status
from curation import leases
from curation.curate import ready_posts
from curation.filters import ItemFilter
from curation.views import count_items, iter_items
from publisher.slots import load

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LARGE = ("post", "media", "image_match", "decision")  # tables that grow with the archive
# Reads whose result is sorted after the index found it, bounded by what matched: one photographer's items,
# the items with a possible duplicate, the approvals the planner groups by item.
SORTED_AFTER = {"author", "possible_duplicates", "approvals"}


def _fill(db: Database) -> None:
    with db.session() as session:
        authors = [Author(key=f"fediverse:u{n}@x.social", network="fediverse", handle=f"u{n}@x.social") for n in range(3)]
        session.add_all(authors)
        session.flush()
        statuses = [Status.PENDING, Status.NEW, Status.APPROVED, Status.REJECTED]
        posts = [Post(key=f"k{i}", channel=("source", "other")[i % 2], platform="mastodon", remote_id=str(i),
                      url=f"https://x/{i}", author_id=authors[i % 3].id, created_at=T0 - timedelta(hours=i),
                      status=statuses[i % 4], needs_credit=i % 5 == 0, license="All Rights Reserved" if i % 7 == 0 else None)
             for i in range(40)]
        session.add_all(posts)
        session.flush()
        session.add_all(Media(post_id=p.id, url=f"https://x/{p.id}.jpg", state="pending" if p.status == Status.NEW else "ok")
                        for p in posts)
        session.flush()
        session.add(ImageMatch(post_id=posts[4].id, other_id=posts[0].id, media_id=posts[4].id, other_media_id=posts[0].id,
                               rule="cropped", tier=POSSIBLE))
        session.add_all(Decision(post_id=p.id, action="approve", from_status="pending", to_status="approved",
                                 actor="tester") for p in posts if p.status == Status.APPROVED)
        session.commit()


def _captured(db: Database, read) -> list[tuple[str, object]]:
    """The SELECT statements `read()` sends, with their parameters."""
    sent = []

    def record(_conn, _cursor, sql, params, _context, _many):
        if sql.lstrip().upper().startswith("SELECT"):
            sent.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        read()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return sent


def _plan(db: Database, sql: str, params: object, *, no_sort: bool) -> str:
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        if db.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(row[3] for row in cursor.fetchall())
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"SET LOCAL enable_sort = {'off' if no_sort else 'on'}")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        conn.rollback()
    return plan


def _reads(db: Database, settings, store: MediaStore) -> dict[str, object]:
    filters = {"pending": ItemFilter(), "all": ItemFilter(status="all"), "channel": ItemFilter(channel="other"),
               "needs_credit": ItemFilter(needs_credit=True), "possible_duplicates": ItemFilter(possible_duplicates=True),
               "author": ItemFilter(author="@u1"), "since": ItemFilter(since=timedelta(days=2)),
               "needs_permission": ItemFilter(needs_permission=True)}
    reads: dict[str, object] = {
        name: (lambda f=flt: (list(iter_items(db, store, f, limit=50, settings=settings)), count_items(db, f, settings=settings)))
        for name, flt in filters.items()}
    reads["after"] = lambda: (list(iter_items(db, store, limit=50, after=3)), count_items(db, ItemFilter(), after=3))
    reads["claim"] = lambda: leases.claim_next(db, "tester#1", ItemFilter(), exclude=[1], after=(T0, 3))
    reads["pending_media"] = lambda: _run(db, pending_media())
    reads["ready_posts"] = lambda: _run(db, ready_posts())
    reads["approvals"] = lambda: _publish_reads(db, settings)
    return reads


def _run(db: Database, query) -> None:
    with db.session() as session:
        session.exec(query).all()


def _publish_reads(db: Database, settings) -> None:
    with db.session() as session:
        load(session, settings, ["community"], datetime.now(UTC))


def test_large_reads_use_indexes(site):
    db = Database(site.db_url)
    _fill(db)
    settings = load_settings(site.config, check_secrets=False)
    store = MediaStore(site.root / "data" / "media")
    sqlite = db.engine.dialect.name == "sqlite"
    problems, used = [], set()
    for name, read in _reads(db, settings, store).items():
        for sql, params in _captured(db, read):
            if "FROM publication" in sql and "JOIN post" in sql:
                continue  # the planner's publication history: rows of this period or approved items (an OR over two tables)
            # The queue's order must come from an index; a batch's images or matches sorted by item id is fine.
            ordered = "ORDER BY post.created_at" in sql and name not in SORTED_AFTER
            plan = _plan(db, sql, params, no_sort=ordered)
            used |= set(re.findall(r"\b(ix_\w+)", plan))
            if sqlite:
                bad = re.findall(rf"^\s*SCAN ({'|'.join(LARGE)})$", plan, re.MULTILINE)
                bad += ["temp sort"] if "TEMP B-TREE" in plan and ordered else []
            else:
                bad = re.findall(rf"Seq Scan on ({'|'.join(LARGE)})\b", plan)
                bad += ["sort"] if re.search(r"(?<!Incremental )Sort\b", plan) and ordered else []
            if bad:
                problems.append(f"{name}: {bad}\n{' '.join(sql.split())[:300]}\n{plan}")
    assert problems == []
    assert {"ix_media_pending", "ix_post_channel_status", "ix_post_needs_credit", "ix_post_status_created_at",
            "ix_decision_action"} <= used
    db.dispose()


@pytest.mark.parametrize("name", ["ix_media_pending", "ix_post_needs_credit", "ix_image_match_possible", "ix_post_license"])
def test_partial_indexes_keep_their_condition_in_a_migrated_database(db_url, name):
    """compare_metadata does not compare an index's WHERE: check the migrated one against the model's."""
    db = Database(db_url)
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).scalar()
        else:
            ddl = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = %(n)s", {"n": name}).scalar()
    model = next(i for t in (Post, Media, ImageMatch) for i in t.__table__.indexes if i.name == name)
    where = str(model.dialect_options[db.engine.dialect.name]["where"])
    words = re.findall(r"\w+|'\w+'", where.lower())
    assert ddl and " WHERE " in ddl.upper() and all(w in ddl.lower() for w in words)
    db.dispose()
