"""`wlb review` with several reviewers: sessions never share an item, a decision taken meanwhile is never
overwritten (a refusal keeps the item on screen; A decides over it, recorded), and a dead session's leases expire."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import event, insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import select

from core.db import Database
from core.models import Author, Post, Status, utcnow
from curation import leases, queue
from curation.views import PENDING
from app.config import load_settings
from app.workspace import Workspace
from tests.review_driver import T0, history, pending, review, show
from tests.site import Site


def expire_leases(site: Site, *items: int) -> None:
    for item in items:
        site.set_post(item, lease_until=utcnow() - timedelta(seconds=1))


def test_a_decision_taken_meanwhile_is_refused_and_the_item_stays_with_who_did_what(site):
    first, second = pending(site, "first", "second")

    def away_too_long_then_bob_rejects_then_a(ws: Workspace) -> str:
        expire_leases(site, first)  # the reviewer went for coffee: the lease ran out
        queue.reject(ws.db, [first], reason="offensive", actor="bob")
        return "a"

    run = review(site, [away_too_long_then_bob_rejects_then_a, "s", "a"])
    refusal = [line for line in run.shown.splitlines() if f"item #{first} was changed" in line]
    assert len(refusal) == 1 and "changed from pending to rejected by bob (reject at" in refusal[0]
    assert "press A, R or D (capital) to decide over it" in run.shown
    assert run.screens_of(first) == 2, "the refusal kept the item on screen"
    lost = show(site, first)
    assert lost["status"] == "rejected" and lost["reasons"] == ["offensive"] and history(site, first)[-1] == ("bob", "reject")
    assert show(site, second)["status"] == "approved", "s went on to the next item"
    assert run.counts == {"approved": 1, "rejected": 0, "skipped": 1}


def test_capital_a_after_the_refusal_decides_over_it_and_says_so_in_the_history(site):
    first, = pending(site, "first")

    def bob_rejects_then_a(ws: Workspace) -> str:
        expire_leases(site, first)
        queue.reject(ws.db, [first], actor="bob")
        return "a"

    run = review(site, [bob_rejects_then_a, "a", "A"])
    assert run.shown.count(f"item #{first} was changed") == 2, "a again is refused again: A is the way through"
    assert show(site, first)["status"] == "approved" and f"✓ #{first} approved → community" in run.shown
    assert history(site, first)[-3:] == [("bob", "reject"), ("tester", "override"), ("tester", "approve")]


def test_capital_a_without_a_refusal_is_a_plain_approval(site):
    first, = pending(site, "first")
    review(site, ["A"])
    assert history(site, first)[-1] == ("tester", "approve") and ("tester", "override") not in history(site, first)


def test_another_session_holding_the_item_is_named_on_the_refusal(site):
    first, second = pending(site, "first", "second")

    def bob_takes_it_over_then_r(ws: Workspace) -> str:
        expire_leases(site, first)
        assert leases.claim(ws.db, first, leases.new_owner("bob"), settings=ws.settings) is None
        return "r"

    run = review(site, [bob_takes_it_over_then_r, "s"], answers=["blurry"])
    assert f"item #{first}: bob is reviewing it (until" in run.shown and "press A, R or D" in run.shown
    assert show(site, first)["status"] == "pending"


def test_two_sessions_never_show_the_same_item(site):
    first, second, third = pending(site, "first", "second", "third")

    def bob_reviews_meanwhile_then_a(ws: Workspace) -> str:
        bob = review(site, ["a", "s"], actor="bob")  # ann holds `first`: bob starts below it
        assert bob.screens_of(first) == 0 and bob.screens_of(second) == 1 and bob.screens_of(third) == 1
        return "a"

    ann = review(site, [bob_reviews_meanwhile_then_a, "a"], actor="ann")
    assert history(site, first)[-1] == ("ann", "approve") and history(site, second)[-1] == ("bob", "approve")
    assert show(site, third)["status"] == "approved" and history(site, third)[-1] == ("ann", "approve")
    assert "✗" not in ann.shown


def test_two_sessions_at_once_decide_each_item_once(site):
    ids = pending(site, *(f"u{n}" for n in range(8)))
    runs: dict[str, object] = {}

    def session(name: str) -> None:
        runs[name] = review(site, ["a"] * 8, actor=name)

    threads = [threading.Thread(target=session, args=(name,)) for name in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(runs) == {"ann", "bob"}
    assert all("✗" not in run.shown for run in runs.values()), "no refusal: no item was shown to both"
    assert sum(run.counts["approved"] for run in runs.values()) == 8
    for item in ids:
        deciders = [actor for actor, action in history(site, item) if action == "approve"]
        assert len(deciders) == 1 and deciders[0] in ("ann", "bob")


def test_a_dead_sessions_lease_expires_and_the_item_comes_back(site):
    first, second = pending(site, "first", "second")
    ghost = leases.new_owner("ghost")
    with Workspace(load_settings(site.config)) as ws:
        assert leases.claim_next(ws.db, ghost, PENDING, settings=ws.settings) == first  # then the terminal died
    run = review(site, ["s"])
    assert run.screens_of(first) == 0 and run.screens_of(second) == 1, "leased to the dead session for now"
    expire_leases(site, first)
    run = review(site, ["a"])
    assert run.screens_of(first) == 1 and show(site, first)["status"] == "approved"
    assert history(site, first)[-1] == ("tester", "approve")


def test_a_status_refusal_moves_on_with_the_reason(site):
    first, second = pending(site, "first", "second")

    def published_meanwhile_then_b(ws: Workspace) -> str:
        site.set_post(first, status=Status.PUBLISHED)  # the nightly run posted it
        return "b"

    run = review(site, ["a", published_meanwhile_then_b, "r", "a"], answers=["changed my mind"])
    assert f"item #{first} is already published; it cannot be rejected; moved on" in run.shown
    assert show(site, first)["status"] == "published" and show(site, second)["status"] == "approved"
    assert run.counts == {"approved": 2, "rejected": 0, "skipped": 1}


def _add_pending(db_url: str, n: int, prefix: str) -> None:
    """`n` pending items written in one statement, as a big archive holds them."""
    db = Database(db_url)
    with db.session() as session:
        author = session.exec(select(Author)).first()
        if author is None:
            author = Author(key="fediverse:bulk@x.social", network="fediverse", handle="bulk@x.social")
            session.add(author)
            session.flush()
        session.execute(insert(Post), [
            {"key": f"{prefix}{i}", "channel": "source", "platform": "mastodon", "remote_id": f"{prefix}{i}",
             "url": f"https://x/{prefix}{i}", "author_id": author.id, "created_at": T0 - timedelta(days=1, seconds=i),
             "collected_at": T0, "status": Status.PENDING, "text": "", "reasons": [], "targets": []} for i in range(n)])
        session.commit()
    db.dispose()


def _items_read_before_the_first_key(site: Site) -> int:
    read = {"n": 0, "at_key": -1}

    def count(session, instance) -> None:
        read["n"] += isinstance(instance, Post)

    def first_key(ws: Workspace) -> str:
        read["at_key"] = read["n"]
        return "q"

    event.listen(OrmSession, "loaded_as_persistent", count)
    try:
        review(site, [first_key])
    finally:
        event.remove(OrmSession, "loaded_as_persistent", count)
    return read["at_key"]


def test_the_first_screen_reads_one_item_whatever_the_backlog(site):
    """A backlog of any size opens as fast as one of ten: the loop claims one item, it never lists the queue."""
    _add_pending(site.db_url, 10, "small")
    ten = _items_read_before_the_first_key(site)
    _add_pending(site.db_url, 5000, "big")
    many = _items_read_before_the_first_key(site)
    assert 1 <= ten == many <= 2, (ten, many)


def test_a_colleagues_edit_while_on_screen_refuses_a_and_our_own_edit_does_not(site):
    first, second = pending(site, "first", "second")

    def bob_recaptions_then_a(ws: Workspace) -> str:
        expire_leases(site, first)
        queue.edit(ws.db, first, caption="bob's caption", actor="bob")
        return "a"

    run = review(site, [bob_recaptions_then_a, "A", "c", "a"], answers=["my caption"])
    assert f"item #{first} was changed by bob (caption at" in run.shown
    assert show(site, first)["status"] == "approved" and show(site, first)["caption"] == "bob's caption"
    assert history(site, first)[-3:] == [("bob", "caption"), ("tester", "override"), ("tester", "approve")]
    second_item = show(site, second)  # our own caption, then a: no refusal
    assert second_item["status"] == "approved" and second_item["caption"] == "my caption"
    assert f"item #{second} was changed" not in run.shown
