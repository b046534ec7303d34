"""Several reviewers at once: filters, leases, decisions against what each one saw, overrides, bulk decisions.

Races run in real processes (multiprocessing spawn, or the wlb command itself), on SQLite and on PostgreSQL
when WLB_TEST_DATABASE is set.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import Database
from core.errors import UsageError
from core.models import POSSIBLE, Author, Decision, ImageMatch, Media, MediaState, Post, Status, utcnow
from curation import leases, queue
from curation.filters import ItemFilter, parse_since, parse_where
from curation.views import count_items, get_item, list_items, matching_ids
from tests.race_worker import claim_until_empty, decide_by_cli
from tests.site import Site

ROOT = Path(__file__).resolve().parents[1]
SPAWN = multiprocessing.get_context("spawn")
NOW = utcnow()


def _author(session, handle: str) -> Author:
    author = Author(key=f"fediverse:{handle}", network="fediverse", handle=handle)
    session.add(author)
    session.flush()
    return author


def _post(session, author: Author, n: int, *, channel: str = "source", age: timedelta = timedelta(hours=1),
          status: Status = Status.PENDING, **values) -> Post:
    post = Post(key=f"https://fake.social/statuses/{n}", channel=channel, platform="mastodon", remote_id=str(n),
                url=f"https://fake.social/@x/{n}", author_id=author.id, created_at=NOW - age, status=status, **values)
    session.add(post)
    session.flush()
    session.add(Media(post_id=post.id, url=f"https://fake.social/m/{n}.jpg", state=MediaState.OK))
    session.flush()
    return post


@pytest.fixture
def archive(db_url: str):
    """A small queue with one item for each filter to find (and the rest it must leave out)."""
    db = Database(db_url)
    with db.session() as session:
        dirk, ann = _author(session, "dirk@brussels.social"), _author(session, "ann@fake.social")
        items = {
            "plain": _post(session, ann, 1),
            "old": _post(session, ann, 2, age=timedelta(days=5)),
            "flickr": _post(session, dirk, 3, channel="flickr"),
            "uncredited": _post(session, ann, 4, needs_credit=True),
            "credited": _post(session, ann, 5, needs_credit=True, credit="Ann Peeters"),
            "nc": _post(session, ann, 6, license="CC BY-NC 2.0"),
            "by": _post(session, ann, 7, license="CC BY 2.0"),
            "lookalike": _post(session, ann, 8),
            "approved": _post(session, dirk, 9, status=Status.APPROVED),
        }
        earlier = items["plain"]
        media = {m.post_id: m.id for m in session.exec(select(Media))}
        session.add(ImageMatch(post_id=items["lookalike"].id, other_id=earlier.id, media_id=media[items["lookalike"].id],
                               other_media_id=media[earlier.id], rule="cropped", tier=POSSIBLE))
        session.commit()
        ids = {name: p.id for name, p in items.items()}
    yield db, ids
    db.dispose()


def _settings(site: Site):
    from app.config import load_settings

    return load_settings(site.config)


@pytest.mark.parametrize(("flt", "expected"), [
    (ItemFilter(), {"plain", "old", "flickr", "uncredited", "credited", "nc", "by", "lookalike"}),
    (ItemFilter(channel="flickr"), {"flickr"}),
    (ItemFilter(author="@dirk"), {"flickr"}),
    (ItemFilter(author="dirk@brussels.social", status="all"), {"flickr", "approved"}),
    (ItemFilter(author="dir"), set()),  # a handle, not a substring: "dir" is not "dirk"
    (ItemFilter(since=timedelta(days=2)), {"plain", "flickr", "uncredited", "credited", "nc", "by", "lookalike"}),
    (ItemFilter(needs_credit=True), {"uncredited"}),
    (ItemFilter(possible_duplicates=True), {"lookalike"}),
    (ItemFilter(status="approved"), {"approved"}),
    (ItemFilter(channel="flickr", author="ann"), set()),
])
def test_each_filter_narrows_to_what_it_names(archive, flt, expected):
    db, ids = archive
    names = {v: k for k, v in ids.items()}
    found = {names[it["id"]] for it in list_items(db, _no_store(), flt)}
    assert found == expected
    assert count_items(db, flt) == len(expected) and set(matching_ids(db, flt)) == {ids[n] for n in expected}


def test_needs_permission_follows_the_configured_licences(archive, site):
    db, ids = archive
    settings = _settings(site)  # default allowed: CC BY, CC BY-SA, CC0, PDM; the community channel is commercial
    found = {it["id"] for it in list_items(db, _no_store(), ItemFilter(needs_permission=True), settings=settings)}
    assert found == {ids["nc"]}


def _no_store():
    from core.media import MediaStore

    return MediaStore(Path("/nonexistent-media"))


@pytest.mark.parametrize(("text", "expected"), [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)),
                                                ("2d", timedelta(days=2)), ("1W", timedelta(weeks=1))])
def test_since_reads_short_durations(text, expected):
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["2", "two days", "0d", "-1d", "5y", ""])
def test_a_bad_since_is_a_usage_error(text):
    with pytest.raises(UsageError, match="30m, 12h, 2d or 1w"):
        parse_since(text)


def test_where_reads_the_same_filters_as_the_options():
    assert parse_where("channel=flickr author=@dirk since=2d needs-credit, possible-duplicates") == ItemFilter(
        channel="flickr", author="@dirk", since=timedelta(days=2), needs_credit=True, possible_duplicates=True)
    for bad in ("chanel=x", "needs-credit=yes", "", "status=maybe"):
        with pytest.raises(UsageError):
            parse_where(bad)


# ---- leases -------------------------------------------------------------------------------------------------------


def test_two_sessions_never_get_the_same_item_and_a_dead_sessions_items_come_back(archive):
    db, ids = archive
    ann, bob = leases.new_owner("ann"), leases.new_owner("bob")
    first = leases.claim_next(db, ann, ItemFilter())
    second = leases.claim_next(db, bob, ItemFilter())
    assert first == ids["plain"] or first is not None
    assert first != second
    assert leases.claim(db, first, bob) is not None, "bob cannot open what ann is looking at"
    with db.session() as session:  # ann's terminal died: her lease runs out
        post = session.get(Post, first)
        post.lease_until = utcnow() - timedelta(seconds=1)
        session.add(post)
        session.commit()
    assert leases.claim(db, first, bob) is None
    assert leases.release(db, bob) == 2


def test_a_session_walks_the_whole_queue_once(archive):
    db, ids = archive
    owner, seen = leases.new_owner("ann"), []
    while (item := leases.claim_next(db, owner, ItemFilter(), exclude=seen)) is not None:
        seen.append(item)
    assert sorted(seen) == sorted(i for n, i in ids.items() if n != "approved")


def test_a_decision_on_an_item_someone_is_reviewing_is_refused_then_overridden_on_record(archive):
    db, ids = archive
    ann = leases.new_owner("ann")
    item = leases.claim_next(db, ann, ItemFilter(channel="flickr"))
    with pytest.raises(queue.Refused, match="ann is reviewing it") as refused:
        queue.reject(db, [item], actor="bob", reason="blurry")
    assert refused.value.why == "leased"
    queue.reject(db, [item], actor="bob", reason="blurry", override=True)
    with db.session() as session:
        post = session.get(Post, item)
        history = [(d.actor, d.action, d.reason) for d in session.exec(select(Decision).where(Decision.post_id == item))]
    assert post.status == Status.REJECTED and post.lease_owner is None
    assert history[0][:2] == ("bob", "override") and "ann is reviewing it" in history[0][2]
    assert history[1] == ("bob", "reject", "blurry")


def test_the_lease_holder_decides_without_override(archive):
    db, ids = archive
    ann = leases.new_owner("ann")
    item = leases.claim_next(db, ann, ItemFilter())
    (post,) = queue.approve(db, [item], targets=[], publish_channels=["community"], actor="ann", lease_owner=ann,
                            expected=Status.PENDING)
    assert post.status == Status.APPROVED and post.lease_owner is None


def test_marking_a_pair_as_each_others_duplicate_at_once_leaves_one_original(archive, monkeypatch):
    db, ids = archive
    one, two = ids["plain"], ids["lookalike"]
    real_lock, raced = queue.lock_items, []

    def bob_first(session, item_ids):  # bob's "#one is #two" commits after alice read #one, before she locks
        if not raced:
            raced.append("bob")
            queue.mark_duplicate(db, one, two, actor="bob")
        return real_lock(session, item_ids)

    monkeypatch.setattr(queue, "lock_items", bob_first)
    with pytest.raises(queue.Refused, match=f"#{one} was marked a duplicate of #{two} meanwhile"):
        queue.mark_duplicate(db, two, one, actor="alice")
    with db.session() as session:
        assert (session.get(Post, one).status, session.get(Post, one).duplicate_of) == (Status.DUPLICATE, two)
        assert (session.get(Post, two).status, session.get(Post, two).duplicate_of) == (Status.PENDING, None)


def test_claims_from_many_processes_at_once_never_overlap(db_url):
    db = Database(db_url)
    with db.session() as session:
        author = _author(session, "ann@fake.social")
        for n in range(60):
            _post(session, author, n, age=timedelta(minutes=n % 7))  # equal dates too: order ties broken by id
        session.commit()
    db.dispose()
    results = SPAWN.Queue()
    barrier = SPAWN.Barrier(3)
    workers = [SPAWN.Process(target=claim_until_empty, args=(db_url, f"r{n}", barrier, results)) for n in range(3)]
    for w in workers:
        w.start()
    claimed = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    every = [item for got in claimed for item in got]
    assert len(every) == 60 and len(set(every)) == 60, "an item was shown to two reviewers"


# ---- decisions by id against what the reviewer saw -------------------------------------------------------------------


def _collected(site: Site, n: int = 1) -> list[int]:
    from tests.fakes import images

    for i in range(n):
        site.source.add_status(images=[images.jpeg(40 + i)], created_at=NOW - timedelta(hours=i + 1))
    assert site.wlb("collect").code == 0
    return sorted(it["id"] for it in site.queue("pending"))


def test_expect_status_refuses_a_decision_someone_made_since_and_override_goes_through(site):
    (item,) = _collected(site)
    db = Database(site.db_url)
    queue.reject(db, [item], actor="bob", reason="blurry")
    db.dispose()
    refused = site.wlb("approve", str(item), "--expect-status", "pending")
    assert refused.code == 2
    assert f"item #{item} was changed from pending to rejected by bob (reject at" in refused.err
    assert "--override" in refused.err and len(refused.err.strip().splitlines()) == 1
    done = site.wlb("approve", str(item), "--expect-status", "pending", "--override")
    assert done.code == 0 and f"✓ #{item} approved → community" in done.out
    history = site.wlb("show", str(item), "--json").json()["history"]
    assert [(h["actor"], h["action"]) for h in history][-3:] == [("bob", "reject"), ("tester", "override"), ("tester", "approve")]


def test_expect_status_must_be_a_status(site):
    (item,) = _collected(site)
    result = site.wlb("reject", str(item), "--expect-status", "pendng")
    assert result.code == 2 and "--expect-status 'pendng'" in result.err


def test_ids_or_where_not_both_and_not_neither(site):
    assert "give item ids or --where" in site.wlb("approve").err
    assert "not both" in site.wlb("reject", "1", "--where", "channel=source").err


def test_reviewing_needs_no_publishing_or_collecting_secret(site, monkeypatch):
    (item,) = _collected(site)
    monkeypatch.delenv("WLB_PUB_TOKEN")
    assert site.wlb("queue").code == 0
    assert site.wlb("show", str(item), "--no-preview").code == 0
    assert site.wlb("approve", str(item)).code == 0
    assert site.wlb("reject", str(item), "--reason", "changed my mind").code == 0
    assert site.wlb("publish").code == 2, "publishing still needs its token"


def test_racing_commands_in_separate_processes_exactly_one_wins(site):
    items = _collected(site, 4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLB_") or k == "WLB_TEST_DATABASE"}
    results = SPAWN.Queue()
    barrier = SPAWN.Barrier(2)
    workers = [SPAWN.Process(target=decide_by_cli, args=(str(site.config), who, verb, items, barrier, results, env))
               for who, verb in (("ann", "approve"), ("bob", "reject"))]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=180) for _ in range(2 * len(items))]
    for w in workers:
        w.join(timeout=60)
    for item in items:
        mine = {who: (code, err) for i, who, code, err in outcomes if i == item}
        assert sorted(code for code, _ in mine.values()) == [0, 2], mine
        loser = next(who for who, (code, _) in mine.items() if code == 2)
        winner = {"ann": "bob", "bob": "ann"}[loser]
        assert f"by {winner} (" in mine[loser][1], mine


# ---- bulk decisions ----------------------------------------------------------------------------------------------------


def test_bulk_reject_counts_asks_and_records_each(site):
    items = _collected(site, 3)
    no_tty = site.wlb("reject", "--where", "channel=source")
    assert no_tty.code == 2 and "reject 3 pending items from channel source: add --yes" in no_tty.err
    assert len(site.queue("pending")) == 3
    done = site.wlb("reject", "--where", "channel=source since=1d", "--reason", "off topic", "--yes")
    assert done.code == 0 and "✓ 3 rejected" in done.out
    for item in items:
        history = site.wlb("show", str(item), "--json").json()["history"]
        assert (history[-1]["actor"], history[-1]["action"], history[-1]["reason"]) == ("tester", "reject", "off topic")


def test_bulk_approve_leaves_gated_and_leased_items_and_says_why(site):
    items = _collected(site, 3)
    site.set_post(items[0], needs_credit=True)
    db = Database(site.db_url)
    assert leases.claim(db, items[1], leases.new_owner("ann")) is None
    db.dispose()
    done = site.wlb("approve", "--where", "channel=source", "--yes")
    assert done.code == 0
    assert "✓ 1 approved" in done.out and "1 left as they were, needing credit" in done.out
    assert f"open on another reviewer's screen: #{items[1]}" in done.out
    assert [it["id"] for it in site.queue("approved")] == [items[2]]


def test_bulk_approve_never_forces_or_credits_a_whole_filter(site):
    items = _collected(site, 2)
    site.set_post(items[0], license="CC BY-NC 2.0")
    for flags in (["--force", "--reason", "they said yes"], ["--credit", "Jo Photographer"], ["--caption", "Same"],
                  ["--override"], ["--expect-status", "pending"]):
        result = site.wlb("approve", "--where", "channel=source", "--yes", *flags)
        assert result.code == 2 and f"{flags[0]} is decided item by item: give item ids, not --where" in result.err
    result = site.wlb("reject", "--where", "channel=source", "--yes", "--override")
    assert result.code == 2 and "--override is decided item by item" in result.err
    assert len(site.queue("pending")) == 2
    assert all(site.wlb("show", str(i), "--json").json()["credit"] is None for i in items)


def test_bulk_with_nothing_matching_changes_nothing(site):
    _collected(site)
    result = site.wlb("reject", "--where", "author=@nobody", "--yes")
    assert result.code == 0 and "nothing to reject: no pending items by @nobody" in result.out


def test_review_without_a_terminal_is_one_line_and_exit_2(site):
    result = site.wlb("review")  # pytest's stdin is not a terminal
    assert result.code == 2 and "wlb review needs a terminal" in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["show", "99999999999999999999"], ["approve", "99999999999999999999"],
                                  ["reject", "0"]])
def test_an_id_no_database_holds_is_a_usage_error(site, args):
    result = site.wlb(*args)
    assert result.code == 2 and "Invalid value" in result.err and "unexpected" not in result.err


def test_an_edit_by_a_colleague_since_the_item_was_shown_refuses_the_decision(archive):
    """Same status, different item: bob re-captioned it after ann's screen was drawn; her approval would publish
    a caption she never saw."""
    from core.media import MediaStore

    db, ids = archive
    item = ids["plain"]
    shown = get_item(db, MediaStore(Path("/nonexistent-media")), item)
    queue.edit(db, item, caption="bob's caption", actor="bob")
    with pytest.raises(queue.Refused, match=r"was changed by bob \(caption at") as refused:
        queue.approve(db, [item], targets=[], publish_channels=["community"], actor="ann",
                      expected=Status(shown["status"]), version=shown["version"])
    assert refused.value.why == "changed"
    fresh = get_item(db, MediaStore(Path("/nonexistent-media")), item)
    assert fresh["version"] > shown["version"] and fresh["status"] == "pending"
    queue.approve(db, [item], targets=[], publish_channels=["community"], actor="ann", expected=Status.PENDING,
                  version=fresh["version"])  # decided on what she now sees: goes through
    assert get_item(db, MediaStore(Path("/nonexistent-media")), item)["status"] == "approved"


def test_undoing_a_reject_takes_its_reason_off_the_item_and_keeps_older_ones(archive):
    db, ids = archive
    item = ids["plain"]
    queue.reject(db, [item], actor="ann", reason="blurry")
    post, undone = queue.undo(db, item, actor="ann")
    assert undone.action == "reject" and post.status == Status.PENDING and post.reasons == []
    queue.reject(db, [item], actor="ann", reason="off topic")
    queue.approve(db, [item], targets=[], publish_channels=["community"], actor="ann")
    queue.reject(db, [item], actor="ann", reason="off topic")  # the same reason again: it was there before
    post, _ = queue.undo(db, item, actor="ann")
    assert post.status == Status.APPROVED and post.reasons == ["off topic"]
