"""Items without a known author: queued as "needs credit", approved only with a reviewer's credit, never posted without one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from core.db import Database
from core.models import Post
from tests.fakes import images
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def uncredited(site: Site) -> int:
    """One collected item whose collector could not determine an author (as collectors flag it)."""
    site.source.add_status(images=[images.jpeg(41)], created_at=T0, acct="feedbot", display_name="#welovebrussels")
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    site.set_post(item["id"], needs_credit=True)
    return item["id"]


def sent_texts(site: Site) -> list[str]:
    return [r.form["status"][0] for r in site.community.requests if r.method == "POST" and r.path == "/api/v1/statuses"]


def test_needs_credit_is_shown_and_approve_without_credit_is_refused_with_how(site):
    item = uncredited(site)
    (shown,) = site.queue("pending")
    assert shown["needs_credit"] is True and shown["credit"] is None
    assert "needs credit" in site.wlb("show", str(item), "--no-preview").out
    assert "needs credit" in site.wlb("queue").out

    refused = site.wlb("approve", str(item))
    assert refused.code != 0
    assert refused.err.strip().count("\n") == 0 and "--credit" in refused.err and "Traceback" not in refused.err
    assert site.queue("pending")[0]["status"] == "pending"
    assert site.wlb("publish").code == 0 and sent_texts(site) == []


@pytest.mark.parametrize(("credit", "written", "absent"), [
    ("@ann@photos.example", "@ann@photos.example", "feedbot"),  # a fediverse handle: mentioned on a fediverse target
    ("Ann  Smith", "Ann Smith", "@"),  # a plain name, written as a name (whitespace tidied)
])
def test_reviewer_credit_is_recorded_and_is_the_credit_line(site, credit, written, absent):
    item = uncredited(site)
    approved = site.wlb("approve", str(item), "--credit", credit)
    assert approved.code == 0, approved.err
    shown = site.wlb("show", str(item), "--json").json()
    assert shown["needs_credit"] is False and shown["credit"] == written
    (given,) = [h for h in shown["history"] if h["action"] == "credit"]
    assert given["actor"] == "tester" and given["reason"] == written and given["at"]

    assert site.wlb("publish").code == 0
    (text,) = sent_texts(site)
    assert written in text
    credit_part = text.split("http")[0]
    assert absent not in credit_part.replace(written, "")
    assert "feedbot@fake.social" not in text


@pytest.mark.parametrize("bad", ["@ann", "ann@photos.example", "  ", "Ann\x1b]52;c;eA==\x07", "x" * 201])
def test_malformed_credit_is_refused_in_one_line(site, bad):
    item = uncredited(site)
    refused = site.wlb("approve", str(item), "--credit", bad)
    assert refused.code != 0 and "--credit" in refused.err and refused.err.strip().count("\n") == 0
    assert site.queue("pending")[0]["status"] == "pending"


def test_publisher_rechecks_the_credit_when_it_claims(site):
    site.source.add_status(images=[images.jpeg(42)], created_at=T0)
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    site.set_post(item["id"], needs_credit=True)  # flagged after the approval: the publisher must not trust it

    result = site.wlb("publish", "--json")
    assert result.code == 0
    assert any("needs credit" in w for w in result.json()["warnings"])
    assert sent_texts(site) == [] and site.community.uploads == []
    db = Database(site.db_url)
    with db.session() as session:
        assert session.exec(select(Post.status)).one() == "approved"
    db.dispose()


def test_a_display_name_holding_a_handle_mentions_nobody_on_another_network():
    # An X display name is free text: "@Gargron@mastodon.social" in it must not notify that account on Mastodon.
    from publisher.credit import CreditAuthor, credit_line
    author = CreditAuthor(network="x", handle="jane", name="@Gargron@mastodon.social @elonmusk")
    for target in ("mastodon", "bluesky", "facebook", "instagram"):
        line = credit_line(author, target)
        assert "@" not in line, (target, line)
        assert "jane" in line
    assert credit_line(author, "x") == "@jane"
