"""Every collector's mark goes through core/watermark.py, and what wlb stored before schema version 6 still reads."""

from __future__ import annotations

import json

import pytest

from collector import bluesky, flickr, instagram, mastodon, pixelfed, rss, x
from core.bounds import WATERMARK_MAX
from core.watermark import FORMAT
from tests.core.test_migrations import OLD_WATERMARKS

# One well-filled mark per collector: every field set, so every field type goes through the encoding.
MARKS = [
    mastodon.Mark("113500000000000001", "113400000000000000", 3),
    pixelfed.Walk("790000000000000000", "790000000000000009", "790000000000000005", 2),
    bluesky.Mark("2026-11-20T11:00:00.000000Z", "2026-11-20T12:00:00.000000Z", "c" * 300, 4),
    flickr.Mark(1795176000, tuple(str(54_000_000_000 + i) for i in range(flickr.MAX_SEEN)), 1795000000, 4),
    rss.FeedMark('W/"abc"', "Fri, 20 Nov 2026 12:00:00 GMT", tuple(rss.digest(str(n)) for n in range(rss.MAX_DIGESTS))),
    instagram.Mark(tuple(instagram.digest(str(n)) for n in range(instagram.MAX_SEEN)), "QVFIUm" * 85,
                   tuple(instagram.digest(f"t{n}") for n in range(instagram.MAX_TAGGED_SEEN))),
    x.Mark("1860000000000000001", "1860000000000000002", "1860000000000000003", "2026-12", 4_250_000, 850),
]


@pytest.mark.parametrize("mark", MARKS, ids=lambda m: type(m).__module__)
def test_every_collectors_mark_round_trips_through_the_one_encoding(mark):
    text = mark.encode()
    assert text is not None and len(text) <= WATERMARK_MAX
    assert json.loads(text)["v"] == FORMAT
    assert type(mark).decode(text) == mark
    empty = type(mark)()
    assert json.loads(empty.encode()) == {"v": FORMAT} and type(mark).decode(empty.encode()) == empty
    assert type(mark).decode(None) == empty and type(mark).decode('{"v":999}') == empty, "a format from elsewhere"


# What each collector reads from a mark stored before version 6 (tests/core/test_migrations.py stores them).
EXPECTED = {
    "mastodon": (mastodon.Mark, mastodon.Mark("113500000000000001", "113400000000000000", 3)),
    "bare": (mastodon.Mark, mastodon.Mark("113500000000000001")),
    "pixelfed": (pixelfed.Walk, pixelfed.Walk(None, "790000000000000001", "780000000000000000", 2)),
    "bluesky": (bluesky.Mark, bluesky.Mark(since="2026-11-20T11:00:00.000000Z", cursor="3")),
    "flickr": (flickr.Mark, flickr.Mark(1795176000, ("54000000001", "54000000002"))),
    "rss": (rss.FeedMark, rss.FeedMark('"abc"', "Fri, 20 Nov 2026 12:00:00 GMT", ("AAAAAAAA", "BBBBBBBB"))),
}


@pytest.mark.parametrize("name", sorted(OLD_WATERMARKS))
def test_marks_stored_before_version_6_go_on_where_collection_stood(name):
    cls, expected = EXPECTED[name]
    assert cls.decode(OLD_WATERMARKS[name]) == expected


def test_older_pixelfed_and_mastodon_forms_still_read():
    assert pixelfed.Walk.decode("123") == pixelfed.Walk("123")
    # A first-run backfill stored as Mastodon's mark, before Pixelfed had its own: finished as a walk.
    assert pixelfed.Walk.decode('{"newest":"9","older_than":"5","pages_left":3}') == pixelfed.Walk(None, "9", "5", 3)
    assert mastodon.Mark.decode("AbCdEf") == mastodon.Mark("AbCdEf"), "a text flake id, stored bare"


def test_a_bluesky_cursor_is_stored_unless_it_would_not_fit_the_column():
    assert bluesky.Mark(cursor="c" * 300).encode() is not None, "past the 160 characters of before version 6"
    assert bluesky.Mark(cursor="c" * WATERMARK_MAX).encode() is None, "the sweep then restarts from the newest"
