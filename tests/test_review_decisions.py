"""`wlb review` decides on what the reviewer saw: a decision taken meanwhile wins, and a credit is asked for."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from rich.console import Console

from core.db import Database
from core.models import Post
from app.output import Output
from app.pipeline import Pipeline
from app.config import load_settings
from curation import queue
from app.review import review_loop
from tests.fakes import images
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def two_pending(site: Site) -> tuple[int, int]:
    """Two pending items, in the order review shows them (newest first)."""
    site.source.add_status(images=[images.jpeg(61)], created_at=T0 + timedelta(minutes=1), acct="first")
    site.source.add_status(images=[images.jpeg(62)], created_at=T0, acct="second")
    assert site.wlb("collect").code == 0
    ids = {i["author"]["handle"]: i["id"] for i in site.queue("pending")}
    return ids["first@fake.social"], ids["second@fake.social"]


def needs_credit(site: Site, item: int) -> None:
    """Flag an item as a collector does when no author could be determined."""
    db = Database(site.db_url)
    with db.session() as session:
        post = session.get(Post, item)
        post.needs_credit = True
        session.add(post)
        session.commit()
    db.dispose()


def review(site: Site, keys: list[str | Callable[[Pipeline], str]], answers: list[str] = ()) -> tuple[dict, str, list[str]]:
    """Run the loop; a key may be a function, called when the key is read (what another reviewer does meanwhile)."""
    pipeline = Pipeline(load_settings(site.config))
    pressed, given, prompts = iter(keys), iter(answers), []
    buf = io.StringIO()

    def getkey() -> str:
        key = next(pressed, "q")
        return key(pipeline) if callable(key) else key

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(given, "")

    counts = review_loop(pipeline, Output(console=Console(file=buf, width=400)), getkey=getkey, ask=ask,
                         open_url=lambda url: None)
    return counts, buf.getvalue(), prompts


def status(site: Site, item: int) -> dict:
    return site.wlb("show", str(item), "--json").json()


def test_a_reject_taken_between_showing_and_a_is_not_overwritten(site):
    first, second = two_pending(site)

    def bob_rejects_then_a(pipeline: Pipeline) -> str:
        queue.reject(pipeline.db, [first], reason="offensive", actor="bob")
        return "a"

    counts, shown, _ = review(site, [bob_rejects_then_a, "a"])
    assert counts == {"approved": 1, "rejected": 0, "skipped": 1}
    refusal = [line for line in shown.splitlines() if f"item #{first} was changed" in line]
    assert len(refusal) == 1 and "changed from pending to rejected by bob (reject at" in refusal[0]
    lost = status(site, first)
    assert lost["status"] == "rejected" and lost["reasons"] == ["offensive"]
    assert [(h["actor"], h["action"]) for h in lost["history"]][-1] == ("bob", "reject")
    assert status(site, second)["status"] == "approved", "the loop went on to the next item"


def test_an_approval_taken_between_showing_and_r_is_not_overwritten(site):
    first, _ = two_pending(site)

    def bob_approves_then_r(pipeline: Pipeline) -> str:
        queue.approve(pipeline.db, [first], targets=[], publish_channels=pipeline.publish_channels(), actor="bob")
        return "r"

    counts, shown, _ = review(site, [bob_approves_then_r, "s"], answers=["blurry"])
    assert counts == {"approved": 0, "rejected": 0, "skipped": 2}
    assert f"item #{first} was changed from pending to approved by bob" in shown
    assert status(site, first)["status"] == "approved" and status(site, first)["reasons"] == []


def test_an_item_decided_after_the_list_was_read_is_skipped_with_a_line(site):
    first, second = two_pending(site)

    def bob_rejects_the_next_then_s(pipeline: Pipeline) -> str:
        queue.reject(pipeline.db, [second], actor="bob")
        return "s"

    counts, shown, _ = review(site, [bob_rejects_the_next_then_s, "a"])
    assert counts == {"approved": 0, "rejected": 0, "skipped": 2}
    assert f"item #{second} is rejected now" in shown
    assert status(site, second)["status"] == "rejected"


def test_a_on_a_needs_credit_item_asks_for_the_credit_and_records_it(site):
    first, _ = two_pending(site)
    needs_credit(site, first)
    counts, shown, prompts = review(site, ["a", "q"], answers=["@ann", "  Ann   Smith "])
    assert counts["approved"] == 1
    assert len(prompts) == 2 and all("@user@host" in p for p in prompts)
    assert "credit: '@ann' is not a fediverse handle" in shown, "a bad credit is refused, then asked again"
    approved = status(site, first)
    assert approved["status"] == "approved" and approved["credit"] == "Ann Smith" and not approved["needs_credit"]
    assert ("tester", "credit", "Ann Smith") in [(h["actor"], h["action"], h["reason"]) for h in approved["history"]]


def test_an_empty_credit_skips_the_item(site):
    first, second = two_pending(site)
    needs_credit(site, first)
    counts, shown, prompts = review(site, ["a", "a"], answers=[""])
    assert counts == {"approved": 1, "rejected": 0, "skipped": 1}
    assert len(prompts) == 1 and f"item #{first} skipped: it needs a credit" in shown
    assert status(site, first)["status"] == "pending" and status(site, first)["credit"] is None
    assert status(site, second)["status"] == "approved", "an item with an author is approved without a question"


def test_a_needs_credit_item_taken_meanwhile_is_refused_after_the_credit(site):
    first, _ = two_pending(site)
    needs_credit(site, first)

    def bob_rejects_then_a(pipeline: Pipeline) -> str:
        queue.reject(pipeline.db, [first], actor="bob")
        return "a"

    counts, shown, _ = review(site, [bob_rejects_then_a], answers=["@ann@photos.example"])
    assert counts["approved"] == 0 and f"item #{first} was changed from pending to rejected by bob" in shown
    assert status(site, first)["credit"] is None and status(site, first)["status"] == "rejected"
